//! Scenario 3, engine throughput: change events published straight into RabbitMQ, and how many
//! per second sync-service handles, against a floor measured in the same run: a minimal
//! consumer through the same consumer loop (`service_kit::broker::consume`: the same prefetch,
//! one delivery at a time, acknowledged after its work) whose work is one Postgres upsert.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use serde::Serialize;
use serde_json::json;
use service_kit::broker::{Broker, HandlerError};
use sync_model::{Contact, EmailAddress, ExternalId, Item, ItemKind, Side, UserId, Version};
use sync_protocol::topology::{CHANGES_EXCHANGE, change_routing_key};
use sync_protocol::{ChangeMessage, Envelope};
use tokio_util::sync::CancellationToken;

use crate::procs::{self, Usage};
use crate::progress::{Progress, step};
use crate::system::{Paths, System};

/// The floor consumer's queue (unprefixed).
pub const FLOOR_QUEUE: &str = "bench.floor";

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub events: usize,
    pub users: usize,
    pub timeout_secs: u64,
}

impl Config {
    pub fn full() -> Self {
        Config {
            events: 20_000,
            users: 100,
            timeout_secs: 600,
        }
    }

    pub fn quick() -> Self {
        Config {
            events: 1_000,
            users: 10,
            timeout_secs: 240,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Result {
    pub config: Config,
    pub prefetch: u16,
    pub floor_events_per_sec: f64,
    pub floor_secs: f64,
    pub sync_events_per_sec: f64,
    pub sync_secs: f64,
    /// Until the last command the events caused was published by the outbox relay.
    pub sync_with_commands_secs: Option<f64>,
    /// sync-service's events per second as a share of the floor's.
    pub share_of_floor: f64,
    pub completed: bool,
    pub sync_service_usage: Usage,
    pub sync_service_cpu_secs: f64,
}

pub async fn run(paths: &Paths, config: &Config) -> anyhow::Result<Result> {
    step(&format!(
        "engine throughput: {} change events for {} users, straight into RabbitMQ",
        config.events, config.users
    ));
    let mut system = System::start(paths, "engine-throughput", &[procs::SYNC], &[]).await?;
    system.extra_queues.push(FLOOR_QUEUE.to_owned());
    let outcome = measure(&mut system, config).await;
    system.stop().await;
    outcome
}

async fn measure(system: &mut System, config: &Config) -> anyhow::Result<Result> {
    let broker = Broker::connect(&system.broker, "bench").await?;
    let channel = broker.channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let pool = service_kit::database::connect(&system.database, "bench_floor").await?;
    let sync_pool = service_kit::database::connect(&system.database, "sync").await?;

    // Users whose contacts sync and whose first sync is over (both sides read, nothing there).
    let users: Vec<UserId> = (0..config.users)
        .map(|_| UserId(uuid::Uuid::new_v4()))
        .collect();
    for user in &users {
        system
            .put_settings(
                &user.0.to_string(),
                json!({
                    "contact_folder_id": "bench-folder",
                    "contacts": {"enabled": true, "direction": "two_way"},
                    "conflict_rule": "zoho_wins",
                    "poll_interval_secs": 60,
                }),
            )
            .await?;
    }
    let exchange = broker.name(CHANGES_EXCHANGE);
    let mut first_reads = Vec::new();
    for user in &users {
        // The first sync waits for both sides' full reads of the scope the settings opened:
        // untagged, they would leave it open and every event below would be skipped.
        let (rescope,): (Option<uuid::Uuid>,) = sqlx::query_as(
            "SELECT rescope_id FROM kind_progress WHERE user_id = $1 AND kind = 'contact'",
        )
        .bind(user.0)
        .fetch_one(&sync_pool)
        .await?;
        for side in Side::ALL {
            let body = ChangeMessage::ReadCompleted {
                side,
                kind: ItemKind::Contact,
                full: true,
                items_read: 0,
                round: None,
                lists_everything: true,
            };
            first_reads.push((
                change_routing_key(*user, side, ItemKind::Contact, body.verb()),
                Envelope::new(*user, body).with_rescope(rescope),
            ));
        }
    }
    publish_all(&channel, &exchange, &first_reads).await?;
    let setup = first_reads.len() as i64;
    wait_processed(
        &sync_pool,
        setup,
        Duration::from_secs(60),
        &mut Progress::new(),
    )
    .await?;

    // The same events for both consumers: new contacts read in Outlook.
    let events = |salt: &str| -> Vec<(String, Envelope<ChangeMessage>)> {
        (0..config.events)
            .map(|i| {
                let user = users[i % users.len()];
                let body = ChangeMessage::ItemChanged {
                    side: Side::Outlook,
                    identity: None,
                    external_id: ExternalId(format!("AAMk-bench-{salt}-{i}")),
                    version: Version("ck-1".into()),
                    item: Item::Contact(Contact {
                        given_name: Some(format!("Bench{i}")),
                        surname: Some("Durchsatz".into()),
                        emails: vec![EmailAddress(format!("bench{i}@{salt}.example"))],
                        company: Some("Benchmark GmbH".into()),
                        business_phone: Some(format!("+49 30 {:07}", i)),
                        ..Contact::default()
                    }),
                };
                (
                    change_routing_key(user, Side::Outlook, ItemKind::Contact, body.verb()),
                    Envelope::new(user, body),
                )
            })
            .collect()
    };

    // The floor.
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS items (
             user_id uuid NOT NULL, side text NOT NULL, external_id text NOT NULL,
             version text NOT NULL, body jsonb NOT NULL,
             PRIMARY KEY (user_id, side, external_id))",
    )
    .execute(&pool)
    .await?;
    channel
        .queue_declare(
            broker.name(FLOOR_QUEUE).into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let handled = Arc::new(AtomicU64::new(0));
    let stop_floor = CancellationToken::new();
    let floor = {
        let broker = Broker::connect(&system.broker, "bench-floor").await?;
        let pool = pool.clone();
        let handled = handled.clone();
        let stop = stop_floor.clone();
        tokio::spawn(async move {
            service_kit::broker::consume(&broker, FLOOR_QUEUE, stop, move |data| {
                let pool = pool.clone();
                let handled = handled.clone();
                async move {
                    upsert(&pool, &data).await?;
                    handled.fetch_add(1, Ordering::Relaxed);
                    Ok::<(), HandlerError>(())
                }
            })
            .await
        })
    };
    let floor_events = events("floor");
    let mut progress = Progress::new();
    let started = Instant::now();
    publish_all(
        &channel,
        "",
        &retarget(&floor_events, &broker.name(FLOOR_QUEUE)),
    )
    .await?;
    let deadline = started + Duration::from_secs(config.timeout_secs);
    loop {
        let n = handled.load(Ordering::Relaxed);
        progress.show(&format!("floor: {n}/{} events", config.events));
        if n as usize >= config.events || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let floor_secs = started.elapsed().as_secs_f64();
    let floor_done = handled.load(Ordering::Relaxed) as usize >= config.events;
    stop_floor.cancel();
    let _ = floor.await;
    let floor_rate = handled.load(Ordering::Relaxed) as f64 / floor_secs;
    progress.done(&format!("floor: {floor_rate:.0} events/s"));

    // sync-service.
    let before = system.usage();
    let sync_events = events("sync");
    let mut progress = Progress::new();
    let started = Instant::now();
    publish_all(&channel, &exchange, &sync_events).await?;
    let target = setup + config.events as i64;
    let sync_done = wait_processed(
        &sync_pool,
        target,
        Duration::from_secs(config.timeout_secs),
        &mut progress,
    )
    .await
    .is_ok();
    let sync_secs = started.elapsed().as_secs_f64();
    let processed = processed(&sync_pool).await? - setup;
    let sync_rate = processed as f64 / sync_secs;
    progress.done(&format!("sync-service: {sync_rate:.0} events/s"));
    // The commands the decisions wrote, published by the relay.
    let mut sync_with_commands_secs = None;
    let relay_deadline = Instant::now() + Duration::from_secs(60);
    while sync_done && Instant::now() < relay_deadline {
        let (pending,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(&sync_pool)
                .await?;
        if pending == 0 {
            sync_with_commands_secs = Some(started.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = system.usage();
    let usage = after.get(procs::SYNC).copied().unwrap_or_default();
    let cpu = usage.cpu_secs - before.get(procs::SYNC).map_or(0.0, |u| u.cpu_secs);
    broker.close().await;
    pool.close().await;
    sync_pool.close().await;
    Ok(Result {
        config: config.clone(),
        prefetch: system.broker.prefetch,
        floor_events_per_sec: floor_rate,
        floor_secs,
        sync_events_per_sec: sync_rate,
        sync_secs,
        sync_with_commands_secs,
        share_of_floor: sync_rate / floor_rate.max(f64::MIN_POSITIVE),
        completed: floor_done && sync_done,
        sync_service_usage: usage,
        sync_service_cpu_secs: cpu,
    })
}

/// The floor's work: one upsert of the item the event carries.
async fn upsert(pool: &sqlx::PgPool, data: &[u8]) -> std::result::Result<(), HandlerError> {
    let envelope: Envelope<ChangeMessage> =
        serde_json::from_slice(data).map_err(|e| HandlerError::Reject(e.into()))?;
    let ChangeMessage::ItemChanged {
        side,
        external_id,
        version,
        item,
        ..
    } = envelope.body
    else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO items (user_id, side, external_id, version, body)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id, side, external_id)
         DO UPDATE SET version = excluded.version, body = excluded.body",
    )
    .bind(envelope.user_id.0)
    .bind(side.to_string())
    .bind(external_id.0)
    .bind(version.0)
    .bind(sqlx::types::Json(item))
    .execute(pool)
    .await
    .map_err(|e| HandlerError::Retry(e.into()))?;
    Ok(())
}

/// The same messages, addressed to one queue through the default exchange.
fn retarget(
    messages: &[(String, Envelope<ChangeMessage>)],
    queue: &str,
) -> Vec<(String, Envelope<ChangeMessage>)> {
    messages
        .iter()
        .map(|(_, m)| (queue.to_owned(), m.clone()))
        .collect()
}

/// Publishes as the services do (persistent, JSON, `mandatory`), waiting for the confirms in
/// windows so that publishing is never the bottleneck.
async fn publish_all(
    channel: &Channel,
    exchange: &str,
    messages: &[(String, Envelope<ChangeMessage>)],
) -> anyhow::Result<()> {
    for window in messages.chunks(500) {
        let mut confirms = Vec::with_capacity(window.len());
        for (routing_key, envelope) in window {
            let payload = serde_json::to_vec(envelope)?;
            let properties = BasicProperties::default()
                .with_content_type("application/json".into())
                .with_delivery_mode(2)
                .with_message_id(envelope.message_id.to_string().into());
            confirms.push(
                channel
                    .basic_publish(
                        exchange.into(),
                        routing_key.as_str().into(),
                        BasicPublishOptions {
                            mandatory: true,
                            ..Default::default()
                        },
                        &payload,
                        properties,
                    )
                    .await?,
            );
        }
        for confirm in confirms {
            let confirmation = confirm.await?;
            anyhow::ensure!(
                confirmation.is_ack(),
                "the broker refused a benchmark message"
            );
        }
    }
    Ok(())
}

async fn processed(pool: &sqlx::PgPool) -> anyhow::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM processed_messages")
        .fetch_one(pool)
        .await?;
    Ok(n)
}

/// Waits until sync-service has handled `target` messages in all.
async fn wait_processed(
    pool: &sqlx::PgPool,
    target: i64,
    timeout: Duration,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let n = processed(pool).await?;
        progress.show(&format!("sync-service: {n}/{target} messages handled"));
        if n >= target {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "sync-service handled {n} of {target} messages in {} s",
            timeout.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

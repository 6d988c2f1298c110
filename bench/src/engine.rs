//! Scenario 3, engine throughput: change events published straight into RabbitMQ, and how many
//! per second sync-service handles, with one replica and then with two, against two floors
//! measured in the same run, both minimal consumers through service-kit's consumer loop whose
//! work is an upsert of the event's item:
//! - the *floor*: the services' prefetch, one delivery at a time, one upsert each;
//! - the *batched floor*: what this machine's broker and database can do: a large prefetch,
//!   batches of what has arrived, one multi-row upsert per batch, each delivery acknowledged
//!   after it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use serde::Serialize;
use serde_json::json;
use service_kit::broker::{Broker, Delivered, HandlerError, consume_batches};
use service_kit::settings::BrokerSettings;
use sync_model::{Contact, EmailAddress, ExternalId, Item, ItemKind, Side, UserId, Version};
use sync_protocol::topology::{CHANGES_EXCHANGE, PARTITIONS, change_routing_key};
use sync_protocol::{ChangeMessage, Envelope};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::design_floor;
use crate::procs::{self, Usage};
use crate::progress::{Progress, step};
use crate::system::{Paths, System};

/// The floor consumer's queue (unprefixed).
pub const FLOOR_QUEUE: &str = "bench.floor";
/// The batched floor's prefetch and largest batch.
const BATCHED_PREFETCH: u16 = 1000;
const BATCHED_MAX: usize = 500;
/// The second sync-service replica's name in the report.
pub const SECOND_REPLICA: &str = "sync-service-2";

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
    pub batched_prefetch: u16,
    pub batched_max: usize,
    pub batched_floor_events_per_sec: f64,
    pub batched_floor_secs: f64,
    /// The least durable work the design asks per event ([`design_floor`]).
    pub design_floor_events_per_sec: f64,
    pub design_floor_secs: f64,
    /// Until the design floor's relay had published every command.
    pub design_floor_with_commands_secs: Option<f64>,
    /// One sync-service replica.
    pub sync_events_per_sec: f64,
    pub sync_secs: f64,
    /// Until the last command the events caused was published by the outbox relay.
    pub sync_with_commands_secs: Option<f64>,
    /// sync-service's events per second as a share of the floor's.
    pub share_of_floor: f64,
    /// ... and of the batched floor's.
    pub share_of_batched_floor: f64,
    /// ... and of the design floor's.
    pub share_of_design_floor: f64,
    /// The same number of new events with a second replica started (partitions balanced).
    pub two_replicas: Option<Replicas>,
    pub completed: bool,
    pub sync_service_usage: Usage,
    pub sync_service_cpu_secs: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Replicas {
    pub events_per_sec: f64,
    pub secs: f64,
    pub share_of_floor: f64,
    pub share_of_batched_floor: f64,
    /// Messages each replica decided (its `sync_messages_decided_total`) during the run.
    pub decided: BTreeMap<String, f64>,
    /// CPU seconds each replica spent during the run.
    pub cpu_secs: BTreeMap<String, f64>,
    pub completed: bool,
}

/// One run of sync-service over a set of events.
struct SyncRun {
    events_per_sec: f64,
    secs: f64,
    with_commands_secs: Option<f64>,
    decided: BTreeMap<String, f64>,
    cpu_secs: BTreeMap<String, f64>,
    completed: bool,
}

pub async fn run(paths: &Paths, config: &Config) -> anyhow::Result<Result> {
    step(&format!(
        "engine throughput: {} change events for {} users, straight into RabbitMQ",
        config.events, config.users
    ));
    let mut system = System::start(paths, "engine-throughput", &[procs::SYNC], &[]).await?;
    system.extra_queues.push(FLOOR_QUEUE.to_owned());
    system
        .extra_queues
        .push(design_floor::COMMANDS_QUEUE.to_owned());
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
                    modified: None,
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
    design_floor::create_tables(&pool).await?;
    channel
        .queue_declare(
            broker.name(design_floor::COMMANDS_QUEUE).into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let deadline = Duration::from_secs(config.timeout_secs);
    let one_by_one = floor(
        system,
        &channel,
        &pool,
        &events("floor"),
        Floor::OneByOne,
        deadline,
    )
    .await?;
    let (floor_rate, floor_secs, floor_done) = (one_by_one.rate, one_by_one.secs, one_by_one.done);
    let batched = floor(
        system,
        &channel,
        &pool,
        &events("batched"),
        Floor::Batched,
        deadline,
    )
    .await?;
    let (batched_rate, batched_secs, batched_done) = (batched.rate, batched.secs, batched.done);
    let design = floor(
        system,
        &channel,
        &pool,
        &events("design"),
        Floor::Design,
        deadline,
    )
    .await?;

    // sync-service, one replica.
    let before = system.usage();
    let one = sync_run(
        system,
        &channel,
        &exchange,
        &sync_pool,
        &events("sync"),
        &[procs::SYNC],
        deadline,
    )
    .await?;
    let after = system.usage();
    let usage = after.get(procs::SYNC).copied().unwrap_or_default();
    let cpu = usage.cpu_secs - before.get(procs::SYNC).map_or(0.0, |u| u.cpu_secs);

    // Two replicas: the second one takes its share of the partitions first.
    let two = match add_replica(system, &sync_pool).await {
        Ok(()) => {
            let run = sync_run(
                system,
                &channel,
                &exchange,
                &sync_pool,
                &events("two"),
                &[procs::SYNC, SECOND_REPLICA],
                deadline,
            )
            .await?;
            Some(Replicas {
                events_per_sec: run.events_per_sec,
                secs: run.secs,
                share_of_floor: run.events_per_sec / floor_rate.max(f64::MIN_POSITIVE),
                share_of_batched_floor: run.events_per_sec / batched_rate.max(f64::MIN_POSITIVE),
                decided: run.decided,
                cpu_secs: run.cpu_secs,
                completed: run.completed,
            })
        }
        Err(err) => {
            eprintln!("warning: no second replica: {err:#}");
            None
        }
    };
    broker.close().await;
    pool.close().await;
    sync_pool.close().await;
    Ok(Result {
        config: config.clone(),
        prefetch: system.broker.prefetch,
        floor_events_per_sec: floor_rate,
        floor_secs,
        batched_prefetch: BATCHED_PREFETCH,
        batched_max: BATCHED_MAX,
        batched_floor_events_per_sec: batched_rate,
        batched_floor_secs: batched_secs,
        design_floor_events_per_sec: design.rate,
        design_floor_secs: design.secs,
        design_floor_with_commands_secs: design.with_commands_secs,
        share_of_design_floor: one.events_per_sec / design.rate.max(f64::MIN_POSITIVE),
        sync_events_per_sec: one.events_per_sec,
        sync_secs: one.secs,
        sync_with_commands_secs: one.with_commands_secs,
        share_of_floor: one.events_per_sec / floor_rate.max(f64::MIN_POSITIVE),
        share_of_batched_floor: one.events_per_sec / batched_rate.max(f64::MIN_POSITIVE),
        completed: floor_done
            && batched_done
            && design.done
            && one.completed
            && two.as_ref().is_some_and(|t| t.completed),
        two_replicas: two,
        sync_service_usage: usage,
        sync_service_cpu_secs: cpu,
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Floor {
    OneByOne,
    Batched,
    /// The least durable work of the design per event ([`design_floor`]).
    Design,
}

/// One floor's run.
struct FloorRun {
    rate: f64,
    secs: f64,
    done: bool,
    /// The design floor: until its relay had published every command.
    with_commands_secs: Option<f64>,
}

/// Runs one floor over `events`: its rate, seconds, and whether it handled them all in time.
async fn floor(
    system: &System,
    channel: &Channel,
    pool: &sqlx::PgPool,
    events: &[(String, Envelope<ChangeMessage>)],
    kind: Floor,
    timeout: Duration,
) -> anyhow::Result<FloorRun> {
    let settings = BrokerSettings {
        prefetch: match kind {
            Floor::OneByOne => system.broker.prefetch,
            Floor::Batched | Floor::Design => BATCHED_PREFETCH,
        },
        ..system.broker.clone()
    };
    let broker = Broker::connect(&settings, "bench-floor").await?;
    let handled = Arc::new(AtomicU64::new(0));
    let published = Arc::new(AtomicU64::new(0));
    let stop = CancellationToken::new();
    let wakeup = Arc::new(Notify::new());
    let relay = if kind == Floor::Design {
        let task = design_floor::relay(
            pool.clone(),
            broker.channel().await?,
            broker.name(design_floor::COMMANDS_QUEUE),
            wakeup.clone(),
            published.clone(),
            stop.clone(),
        );
        Some(tokio::spawn(task))
    } else {
        None
    };
    let consumer = {
        let (pool, handled, stop, broker, wakeup) = (
            pool.clone(),
            handled.clone(),
            stop.clone(),
            broker.clone(),
            wakeup.clone(),
        );
        tokio::spawn(async move {
            let max = match kind {
                Floor::OneByOne => 1,
                Floor::Batched | Floor::Design => BATCHED_MAX,
            };
            consume_batches(&broker, FLOOR_QUEUE, stop, max, move |batch| {
                let (pool, handled, wakeup) = (pool.clone(), handled.clone(), wakeup.clone());
                async move {
                    let n = batch.len();
                    let outcome = match kind {
                        Floor::Design => design_floor::handle(&pool, &batch, &wakeup).await,
                        Floor::OneByOne | Floor::Batched => upsert(&pool, &batch).await,
                    };
                    if outcome.is_ok() {
                        handled.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    let share = |o: &std::result::Result<(), HandlerError>| match o {
                        Ok(()) => Ok(()),
                        Err(e) => Err(HandlerError::Retry(anyhow::anyhow!("{e}"))),
                    };
                    (0..n).map(|_| share(&outcome)).collect()
                }
            })
            .await
        })
    };
    let label = match kind {
        Floor::OneByOne => "floor",
        Floor::Batched => "batched floor",
        Floor::Design => "design floor",
    };
    let mut progress = Progress::new();
    let started = Instant::now();
    let queue = broker.name(FLOOR_QUEUE);
    publish_all(channel, "", &retarget(events, &queue)).await?;
    eprintln!(
        "  {label}: published after {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let deadline = started + timeout;
    loop {
        let n = handled.load(Ordering::Relaxed);
        progress.show(&format!("{label}: {n}/{} events", events.len()));
        if n as usize >= events.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let done = handled.load(Ordering::Relaxed) as usize >= events.len();
    let mut with_commands_secs = None;
    if let Some(relay) = &relay {
        let relay_deadline = Instant::now() + Duration::from_secs(60);
        while done && Instant::now() < relay_deadline && !relay.is_finished() {
            if published.load(Ordering::Relaxed) as usize >= events.len() {
                with_commands_secs = Some(started.elapsed().as_secs_f64());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    stop.cancel();
    let _ = consumer.await;
    let mut relay_failed = false;
    if let Some(mut relay) = relay {
        // A confirm the broker never sends must not hang the benchmark: the relay is stopped,
        // its transaction rolled back with its connection.
        let ended = tokio::time::timeout(Duration::from_secs(10), &mut relay).await;
        if ended.is_err() {
            relay.abort();
        }
        match ended {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => {
                eprintln!("warning: the design floor's relay failed: {err:#}");
                relay_failed = true;
            }
            Ok(Err(err)) => {
                eprintln!("warning: the design floor's relay failed: {err}");
                relay_failed = true;
            }
            Err(_) => {
                eprintln!("warning: the design floor's relay did not stop within 10 s");
                relay_failed = true;
            }
        }
    }
    let done = done && !relay_failed;
    broker.close().await;
    let rate = handled.load(Ordering::Relaxed) as f64 / secs;
    progress.done(&format!("{label}: {rate:.0} events/s"));
    Ok(FloorRun {
        rate,
        secs,
        done,
        with_commands_secs,
    })
}

/// Publishes `events` to sync-service and waits until `replicas` have handled them all and the
/// relay has published the commands they caused.
async fn sync_run(
    system: &System,
    channel: &Channel,
    exchange: &str,
    sync_pool: &sqlx::PgPool,
    events: &[(String, Envelope<ChangeMessage>)],
    replicas: &[&str],
    timeout: Duration,
) -> anyhow::Result<SyncRun> {
    let label = if replicas.len() == 1 {
        "sync-service".to_owned()
    } else {
        format!("sync-service ×{}", replicas.len())
    };
    let base = processed(sync_pool).await?;
    let counted = |system: &System| {
        let urls: Vec<(String, String)> = replicas
            .iter()
            .map(|r| ((*r).to_owned(), system.url(r)))
            .collect();
        let http = system.http.clone();
        async move {
            let mut decided = BTreeMap::new();
            for (name, url) in urls {
                decided.insert(
                    name,
                    counter(&http, &url, "sync_messages_decided_total").await,
                );
            }
            decided
        }
    };
    let decided_before = counted(system).await;
    let cpu_before = system.usage();
    let mut progress = Progress::new();
    let started = Instant::now();
    publish_all(channel, exchange, events).await?;
    eprintln!(
        "  {label}: published after {:.2} s",
        started.elapsed().as_secs_f64()
    );
    // Watched as the floors watch theirs, by a counter that costs the database nothing: the
    // replicas' count of messages decided (counted once their transaction commits). Counting the inbox's
    // rows 20 times a second took database time from the run being measured. The inbox
    // confirms at the end.
    let deadline = started + timeout;
    let goal = decided_before.values().sum::<f64>() + events.len() as f64;
    loop {
        let decided: f64 = counted(system).await.values().sum();
        progress.show(&format!(
            "{label}: {:.0}/{} messages decided",
            decided - (goal - events.len() as f64),
            events.len()
        ));
        if decided >= goal || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let target = base + events.len() as i64;
    let left = deadline.saturating_duration_since(Instant::now());
    let completed = wait_processed(sync_pool, target, left, &mut progress)
        .await
        .is_ok();
    let secs = started.elapsed().as_secs_f64();
    let rate = (processed(sync_pool).await? - base) as f64 / secs;
    progress.done(&format!("{label}: {rate:.0} events/s"));
    // The commands the decisions wrote, published by the relay.
    let mut with_commands_secs = None;
    let relay_deadline = Instant::now() + Duration::from_secs(60);
    while completed && Instant::now() < relay_deadline {
        let (pending,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(sync_pool)
                .await?;
        if pending == 0 {
            with_commands_secs = Some(started.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let decided_after = counted(system).await;
    let cpu_after = system.usage();
    Ok(SyncRun {
        events_per_sec: rate,
        secs,
        with_commands_secs,
        decided: decided_after
            .iter()
            .map(|(name, n)| (name.clone(), n - decided_before.get(name).unwrap_or(&0.0)))
            .collect(),
        cpu_secs: replicas
            .iter()
            .map(|r| {
                let cpu = |u: &BTreeMap<String, Usage>| u.get(*r).map_or(0.0, |u| u.cpu_secs);
                ((*r).to_owned(), cpu(&cpu_after) - cpu(&cpu_before))
            })
            .collect(),
        completed,
    })
}

/// Starts the second replica and waits until the two share the partitions evenly.
async fn add_replica(system: &mut System, sync_pool: &sqlx::PgPool) -> anyhow::Result<()> {
    system.spawn_replica(procs::SYNC, SECOND_REPLICA).await?;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut progress = Progress::new();
    loop {
        let owned: Vec<(i64,)> = sqlx::query_as(
            "SELECT count(*) FROM partition_owners WHERE expires_at > now() GROUP BY owner",
        )
        .fetch_all(sync_pool)
        .await?;
        progress.show(&format!("second replica: partitions per replica {owned:?}"));
        let even = PARTITIONS as i64 / 2;
        if owned.len() == 2 && owned.iter().all(|(n,)| *n == even) {
            progress.done("second replica: the partitions are shared 8 and 8");
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the partitions were not balanced within 90 s: {owned:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A counter of a service's `/metrics` (0 when not reported yet or unreachable).
async fn counter(http: &reqwest::Client, url: &str, name: &str) -> f64 {
    let Ok(answer) = http.get(format!("{url}/metrics")).send().await else {
        return 0.0;
    };
    let text = answer.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The floors' work: one upsert of the items a batch of events carries, in one statement.
async fn upsert(pool: &sqlx::PgPool, batch: &[Delivered]) -> std::result::Result<(), HandlerError> {
    let mut rows: BTreeMap<(uuid::Uuid, String, String), (String, String)> = BTreeMap::new();
    for delivery in batch {
        let envelope: Envelope<ChangeMessage> =
            serde_json::from_slice(&delivery.data).map_err(|e| HandlerError::Reject(e.into()))?;
        if let ChangeMessage::ItemChanged {
            side,
            external_id,
            version,
            item,
            ..
        } = envelope.body
        {
            let body = serde_json::to_string(&item).map_err(|e| HandlerError::Reject(e.into()))?;
            rows.insert(
                (envelope.user_id.0, side.to_string(), external_id.0),
                (version.0, body),
            );
        }
    }
    let (mut users, mut sides, mut ids, mut versions, mut bodies) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((user, side, id), (version, body)) in rows {
        users.push(user);
        sides.push(side);
        ids.push(id);
        versions.push(version);
        bodies.push(body);
    }
    sqlx::query(
        "INSERT INTO items (user_id, side, external_id, version, body)
         SELECT u, s, e, v, b::jsonb
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(u, s, e, v, b)
         ON CONFLICT (user_id, side, external_id)
         DO UPDATE SET version = excluded.version, body = excluded.body",
    )
    .bind(users)
    .bind(sides)
    .bind(ids)
    .bind(versions)
    .bind(bodies)
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
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

//! Partitioned work against the real Postgres and RabbitMQ (decisions #51), with sync-service
//! running as its own processes (the binary this package builds), so that one can be killed
//! with SIGKILL:
//! - two replicas share the partitions, and the interleaved changes of many users end with every
//!   user's items all decided once, in the order each user's changes were published;
//! - a delivery whose transaction committed but whose acknowledgement never came (its channel
//!   gone) is delivered again and counted once;
//! - a replica killed in the middle of the stream: its partitions move to the survivor, nothing
//!   is lost and nothing is decided twice.
//!
//! Each user's k-th change is a new Outlook contact named `k`: its decision is a create command
//! for Zoho, written to the outbox in the decision's transaction, so the outbox (its ids are
//! taken under the user's lock) records each user's decisions in the order they were made. The
//! relay deletes what it publishes (decision 99): a trigger of the test keeps a copy of every
//! row written.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicConsumeOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use secrecy::ExposeSecret;
use service_kit::broker::{Broker, Publisher};
use service_kit::settings::{BrokerSettings, DatabaseSettings};
use sqlx::PgPool;
use sync_model::{Contact, EmailAddress, ExternalId, Item, ItemKind, Side, UserId, Version};
use sync_protocol::topology::{PARTITIONS, Partition};
use sync_protocol::{ApplyOp, ChangeMessage, CommandMessage, Envelope};
use sync_service::handler::{ChangeHandler, DeleteGuard, RetryPolicy};
use test_support::wait_for;
use tokio::process::{Child, Command};

/// The operator's credential (provisioning settings through the internal API).
const SERVICE_TOKEN: &str = "partitions-test-operator-credential-0123456789";
const TIMEOUT: Duration = Duration::from_secs(90);
/// Changes per user.
const CHANGES: usize = 8;

struct World {
    database: DatabaseSettings,
    broker: BrokerSettings,
    pool: PgPool,
    publisher: Publisher,
    connection: Broker,
    http: reqwest::Client,
}

struct Replica {
    child: Child,
    url: String,
}

impl Replica {
    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM: the graceful stop a supervisor sends.
    async fn terminate(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .await?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await??;
        Ok(())
    }

    /// A counter of the replica's `/metrics` (0 when not reported yet).
    async fn counter(&self, http: &reqwest::Client, name: &str) -> anyhow::Result<f64> {
        let text = http
            .get(format!("{}/metrics", self.url))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }
}

async fn world() -> anyhow::Result<World> {
    let database = test_support::fresh_database().await?;
    // The replicas declare durable objects (their settings come from the environment): the
    // test declares the same, and deletes them at the end.
    let broker = BrokerSettings {
        transient: false,
        ..test_support::test_broker()
    };
    let pool = service_kit::database::connect(&database, sync_service::startup::SCHEMA).await?;
    service_kit::database::migrate(&pool, &sync_service::startup::MIGRATOR).await?;
    sqlx::raw_sql(
        "CREATE TABLE decided (id bigint PRIMARY KEY, payload jsonb NOT NULL);
         CREATE FUNCTION keep_decided() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN INSERT INTO decided VALUES (NEW.id, NEW.payload); RETURN NULL; END $$;
         CREATE TRIGGER keep_decided AFTER INSERT ON outbox FOR EACH ROW
             EXECUTE FUNCTION keep_decided();",
    )
    .execute(&pool)
    .await?;
    let connection = Broker::connect(&broker, "partitions-test").await?;
    let publisher = connection.publisher().await?;
    Ok(World {
        database,
        broker,
        pool,
        publisher,
        connection,
        http: reqwest::Client::new(),
    })
}

impl World {
    async fn start_replica(&self) -> anyhow::Result<Replica> {
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
            .local_addr()?
            .port();
        let log = std::env::var_os("TEST_LOG").is_some();
        let output = || if log { Stdio::inherit() } else { Stdio::null() };
        let child = Command::new(env!("CARGO_BIN_EXE_sync-service"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "SYNC_SERVICE_DATABASE_URL",
                self.database.url.expose_secret(),
            )
            .env("SYNC_SERVICE_DATABASE_MAX_CONNECTIONS", "6")
            .env("SYNC_SERVICE_AMQP_URL", self.broker.url.expose_secret())
            .env("SYNC_SERVICE_BROKER_PREFIX", &self.broker.prefix)
            .env("SYNC_SERVICE_PORT", port.to_string())
            .env("SYNC_SERVICE_TOKEN_OPERATOR", SERVICE_TOKEN)
            .env("SYNC_SERVICE_PARTITION_LEASE_SECS", "3")
            .env("SYNC_SERVICE_STARTUP_WAIT_SECS", "30")
            .env("SYNC_SERVICE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(output())
            .stderr(output())
            .kill_on_drop(true)
            .spawn()?;
        let replica = Replica {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        wait_for("the replica to be ready", TIMEOUT, || async {
            let answer = self
                .http
                .get(format!("{}/health/ready", replica.url))
                .send()
                .await;
            Ok(answer.is_ok_and(|a| a.status().is_success()).then_some(()))
        })
        .await?;
        Ok(replica)
    }

    /// Partition owners under a running lease.
    async fn owners(&self) -> anyhow::Result<BTreeMap<Partition, uuid::Uuid>> {
        Ok(sync_service::store::partitions::owners(&self.pool)
            .await?
            .into_iter()
            .filter_map(|(p, owner)| Some((Partition::new(p as u16)?, owner?)))
            .collect())
    }

    /// Waits until every partition is owned by one of `replicas` distinct owners, in shares
    /// that differ by at most the rounding of the fair share.
    async fn balanced(&self, replicas: usize) -> anyhow::Result<BTreeMap<Partition, uuid::Uuid>> {
        wait_for("the partitions to be balanced", TIMEOUT, || async {
            let owners = self.owners().await?;
            let mut shares: BTreeMap<uuid::Uuid, usize> = BTreeMap::new();
            for owner in owners.values() {
                *shares.entry(*owner).or_default() += 1;
            }
            let fair = (PARTITIONS as usize).div_ceil(replicas);
            let ok = owners.len() == PARTITIONS as usize
                && shares.len() == replicas
                && shares.values().all(|&n| n <= fair);
            Ok(ok.then_some(owners))
        })
        .await
    }

    /// Users whose contacts sync two ways and whose first sync is over (nothing on either side).
    async fn users(&self, replica: &Replica, n: usize) -> anyhow::Result<Vec<UserId>> {
        let users: Vec<UserId> = (0..n).map(|_| UserId(uuid::Uuid::new_v4())).collect();
        for user in &users {
            let answer = self
                .http
                .put(format!("{}/internal/v1/users/{user}/settings", replica.url))
                .bearer_auth(SERVICE_TOKEN)
                .json(&serde_json::json!({
                    "contact_folder_id": "folder",
                    "contacts": {"enabled": true, "direction": "two_way"},
                    "conflict_rule": "zoho_wins",
                    "poll_interval_secs": 60,
                }))
                .send()
                .await?;
            anyhow::ensure!(
                answer.status().is_success(),
                "settings: {}",
                answer.status()
            );
            // The first sync waits for both sides' full reads of the scope the settings opened.
            let (rescope,): (Option<uuid::Uuid>,) = sqlx::query_as(
                "SELECT rescope_id FROM kind_progress WHERE user_id = $1 AND kind = 'contact'",
            )
            .bind(user.0)
            .fetch_one(&self.pool)
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
                self.publisher
                    .publish_change(&Envelope::new(*user, body).with_rescope(rescope))
                    .await?;
            }
        }
        self.processed(2 * n as i64).await?;
        Ok(users)
    }

    /// Waits until `n` messages have been handled.
    async fn processed(&self, n: i64) -> anyhow::Result<()> {
        wait_for("the messages to be handled", TIMEOUT, || async {
            let (done,): (i64,) = sqlx::query_as("SELECT count(*) FROM processed_messages")
                .fetch_one(&self.pool)
                .await?;
            anyhow::ensure!(done <= n, "{done} messages handled, only {n} sent");
            Ok((done == n).then_some(()))
        })
        .await
    }

    /// Each user's create commands, in the order they were decided: the contacts' names.
    async fn decisions(&self) -> anyhow::Result<BTreeMap<UserId, Vec<String>>> {
        let rows: Vec<(sqlx::types::Json<Envelope<CommandMessage>>,)> =
            sqlx::query_as("SELECT payload FROM decided ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        let mut decisions: BTreeMap<UserId, Vec<String>> = BTreeMap::new();
        for (envelope,) in rows {
            if let CommandMessage::Apply {
                op:
                    ApplyOp::Create {
                        item: Item::Contact(contact),
                        ..
                    },
                ..
            } = envelope.0.body
            {
                decisions
                    .entry(envelope.0.user_id)
                    .or_default()
                    .push(contact.given_name.unwrap_or_default());
            }
        }
        Ok(decisions)
    }

    /// Each user's live links.
    async fn links(&self) -> anyhow::Result<BTreeMap<UserId, i64>> {
        let rows: Vec<(uuid::Uuid, i64)> = sqlx::query_as(
            "SELECT user_id, count(*) FROM links WHERE status <> 'deleted' GROUP BY user_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(u, n)| (UserId(u), n)).collect())
    }

    /// The durable objects the replicas declared, and the database.
    async fn clean_up(self) {
        let channel = self.connection.channel().await.expect("a channel");
        let queues = Partition::all().map(|p| p.queue()).chain([
            "connector-outlook.commands".to_owned(),
            "connector-zoho.commands".to_owned(),
            "sync.dead-letter".to_owned(),
        ]);
        for queue in queues {
            let _ = channel
                .queue_delete(
                    self.connection.name(&queue).into(),
                    QueueDeleteOptions::default(),
                )
                .await;
        }
        for exchange in ["sync.changes", "sync.commands", "sync.dead-letter"] {
            let _ = channel
                .exchange_delete(
                    self.connection.name(exchange).into(),
                    ExchangeDeleteOptions::default(),
                )
                .await;
        }
        self.connection.close().await;
        self.pool.close().await;
    }
}

/// The user's `k`-th change: a new Outlook contact named `k`.
fn change(user: UserId, k: usize) -> Envelope<ChangeMessage> {
    Envelope::new(
        user,
        ChangeMessage::ItemChanged {
            side: Side::Outlook,
            external_id: ExternalId(format!("AAMk-{user}-{k}")),
            version: Version("v1".into()),
            item: Item::Contact(Contact {
                given_name: Some(k.to_string()),
                surname: Some("Partition".into()),
                emails: vec![EmailAddress(format!("{k}.{}@example.jp", user.0.simple()))],
                ..Contact::default()
            }),
            identity: None,
            modified: None,
        },
    )
}

/// Every user decided each of their changes once, in the order published: `1..=CHANGES`
/// (plus `extra` first for the users listed there), and holds one link per change.
async fn assert_each_user_in_order(
    world: &World,
    users: &[UserId],
    extra: &BTreeMap<UserId, String>,
) -> anyhow::Result<()> {
    let decisions = wait_for("every change decided", TIMEOUT, || async {
        let decisions = world.decisions().await?;
        let count: usize = decisions.values().map(Vec::len).sum();
        let links: i64 = world.links().await?.values().sum();
        anyhow::ensure!(
            count >= users.len() * CHANGES + extra.len(),
            "{count} creates decided, {links} links"
        );
        Ok(Some(decisions))
    })
    .await?;
    let links = world.links().await?;
    for user in users {
        let mut expected: Vec<String> = extra.get(user).cloned().into_iter().collect();
        expected.extend((1..=CHANGES).map(|k| k.to_string()));
        assert_eq!(
            decisions.get(user),
            Some(&expected),
            "user {user}: each change decided once, in order"
        );
        assert_eq!(
            links.get(user).copied(),
            Some(expected.len() as i64),
            "user {user}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_partitions_and_keep_each_users_order() -> anyhow::Result<()> {
    let world = world().await?;
    let first = world.start_replica().await?;
    let second = world.start_replica().await?;
    let owners = world.balanced(2).await?;

    let users = world.users(&first, 24).await?;
    // Both replicas own partitions that carry some of these users' changes.
    let working: BTreeSet<uuid::Uuid> = users.iter().map(|u| owners[&Partition::of(*u)]).collect();
    assert_eq!(working.len(), 2, "both replicas have users to serve");

    // Interleaved: every user's first change, then every user's second, and so on.
    for k in 1..=CHANGES {
        for user in &users {
            world.publisher.publish_change(&change(*user, k)).await?;
        }
    }
    world
        .processed((users.len() * (2 + CHANGES)) as i64)
        .await?;
    assert_each_user_in_order(&world, &users, &BTreeMap::new()).await?;

    // A graceful stop hands the partitions over at once; the survivor owns them all.
    second.terminate().await?;
    world.balanced(1).await?;
    for user in &users {
        world.publisher.publish_change(&change(*user, 0)).await?;
    }
    world
        .processed((users.len() * (3 + CHANGES)) as i64)
        .await?;
    first.kill().await;
    world.clean_up().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_between_commit_and_ack_or_mid_stream_loses_and_doubles_nothing()
-> anyhow::Result<()> {
    let world = world().await?;
    let first = world.start_replica().await?;
    let users = world.users(&first, 24).await?;
    first.terminate().await?;

    // A replica that committed a delivery's decision and died before acknowledging it: the
    // delivery is handled by the test's own handler, its channel closed without the ack.
    let victim = users[0];
    let early = change(victim, 100);
    world.publisher.publish_change(&early).await?;
    let channel = world.connection.channel().await?;
    let mut consumer = channel
        .basic_consume(
            world.connection.name(&Partition::of(victim).queue()).into(),
            "dies-before-ack".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let delivery = {
        use futures_util::StreamExt;
        tokio::time::timeout(TIMEOUT, consumer.next())
            .await?
            .expect("a delivery")?
    };
    let handler = ChangeHandler {
        pool: world.pool.clone(),
        relay_wakeup: Arc::new(tokio::sync::Notify::new()),
        guard: DeleteGuard {
            share: 0.3,
            minimum: 5,
        },
        retry: RetryPolicy {
            attempts: 3,
            backoff: Duration::from_secs(1),
        },
    };
    handler
        .handle(&delivery.data)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    channel.close(200, "died before the ack".into()).await?;
    let base = (users.len() * 2 + 1) as i64;
    world.processed(base).await?;

    // Two replicas; the redelivered message is recognised and skipped.
    let first = world.start_replica().await?;
    let second = world.start_replica().await?;
    world.balanced(2).await?;
    wait_for("the redelivery to be skipped", TIMEOUT, || async {
        let mut skipped = 0.0;
        for replica in [&first, &second] {
            skipped += replica
                .counter(&world.http, "sync_duplicate_deliveries_total")
                .await?;
        }
        Ok((skipped >= 1.0).then_some(()))
    })
    .await?;

    // The interleaved stream; one replica is killed in its middle.
    let total = base + (users.len() * CHANGES) as i64;
    let publishing = {
        let publisher = world.publisher.clone();
        let users = users.clone();
        tokio::spawn(async move {
            for k in 1..=CHANGES {
                for user in &users {
                    publisher.publish_change(&change(*user, k)).await?;
                }
            }
            anyhow::Ok(())
        })
    };
    wait_for("a third of the stream handled", TIMEOUT, || async {
        let (done,): (i64,) = sqlx::query_as("SELECT count(*) FROM processed_messages")
            .fetch_one(&world.pool)
            .await?;
        Ok((done >= base + (users.len() * CHANGES) as i64 / 3).then_some(()))
    })
    .await?;
    second.kill().await;
    publishing.await??;

    // Its partitions move to the survivor after their leases; everything is decided once.
    world.balanced(1).await?;
    world.processed(total).await?;
    let extra = BTreeMap::from([(victim, "100".to_owned())]);
    assert_each_user_in_order(&world, &users, &extra).await?;
    first.kill().await;
    world.clean_up().await;
    Ok(())
}

//! The crash test of issue 12: the whole system as separate processes (`harness`), both accounts
//! seeded with items of their own and shared ones, a first sync started while a seeded random
//! workload creates, edits and deletes on both sides ([`workload`]), services killed with
//! SIGKILL and the broker and the database taken down ([`chaos`]); then the system is left to
//! settle and the [`oracle`] compares both emulators' data with the [`model`] of what the
//! harness did.
#![doc = include_str!("../README.md")]

pub mod chaos;
pub mod keys;
pub mod model;
pub mod oracle;
pub mod workload;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use harness::procs;
use harness::system::{Paths, System};
use serde::Serialize;
use serde_json::{Value, json};

use crate::keys::{KINDS, Kind, SIDES, Side};
use crate::model::{Model, OpCounts};
use crate::oracle::{Actual, Verdict};
use crate::workload::{Target, Workload};

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Items seeded on each side, `shared_share` of them on both.
    pub contacts: usize,
    pub tasks: usize,
    pub events: usize,
    pub shared_share: f64,
    pub poll_interval_secs: u32,
    /// How long the workload and the faults run (the outages happen within it).
    pub chaos_secs: u64,
    pub ops_per_sec: f64,
    /// How long the system may take to settle once the faults stop.
    pub settle_timeout_secs: u64,
    pub chaos: chaos::Config,
}

impl Config {
    /// The suite's short run: a few hundred items, a few kills, one outage of each, about two
    /// minutes in a debug build.
    pub fn short() -> Config {
        Config {
            contacts: 120,
            tasks: 30,
            events: 30,
            shared_share: 0.2,
            poll_interval_secs: 2,
            chaos_secs: 45,
            ops_per_sec: 3.0,
            settle_timeout_secs: 240,
            chaos: chaos::Config {
                calm: false,
                kill_gap_secs: (4.0, 8.0),
                busy_kill_gap_secs: (1.5, 4.0),
                busy_secs: 25.0,
                aimed_kills: 4,
                down_secs: (0.3, 2.0),
                broker_outage_at: 12.0,
                database_outage_at: 28.0,
                outage_secs: 4.0,
                restart_servers: false,
            },
        }
    }

    /// The size: 2,000 contacts, 300 tasks and 300 events per side.
    pub fn long() -> Config {
        Config {
            contacts: 2000,
            tasks: 300,
            events: 300,
            shared_share: 0.2,
            poll_interval_secs: 3,
            chaos_secs: 180,
            ops_per_sec: 4.0,
            settle_timeout_secs: 600,
            chaos: chaos::Config {
                calm: false,
                kill_gap_secs: (4.0, 12.0),
                busy_kill_gap_secs: (2.0, 6.0),
                busy_secs: 120.0,
                aimed_kills: 8,
                down_secs: (0.3, 3.0),
                broker_outage_at: 40.0,
                database_outage_at: 100.0,
                outage_secs: 6.0,
                restart_servers: false,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub seed: u64,
    pub config: Config,
    pub seeded: BTreeMap<Kind, (usize, usize)>,
    /// Keys seeded on both sides by more than one item (the first sync holds those by design).
    pub ambiguous_seed_keys: usize,
    pub ops: OpCounts,
    pub workload_errors: Vec<String>,
    pub chaos: chaos::Log,
    pub settled: bool,
    pub settle_secs: f64,
    /// Links sync-service holds for a person (ambiguous first-sync matches), per kind.
    pub held: BTreeMap<Kind, i64>,
    pub verdict: Verdict,
    pub elapsed_secs: f64,
}

impl RunReport {
    /// One line of figures.
    pub fn line(&self) -> String {
        let t = &self.verdict.total;
        let kills = |n: &str| self.chaos.kills.get(n).copied().unwrap_or(0);
        format!(
            "seed {}: lost {}, duplicated {}, stale {}, resurrected {}, unexpected {}, unlinked {}, \
             recreated {} | {} expected items; ops {} creates, {} edits, {} deletes; {} kills (outlook {}, \
             zoho {}, sync {}, auth {}; {} aimed at writes), {} broker + {} database outage(s); \
             {} in {:.0} s, run {:.0} s",
            self.seed,
            t.lost,
            t.duplicated,
            t.stale,
            t.resurrected,
            t.unexpected,
            t.unlinked,
            t.recreated,
            t.expected,
            self.ops.creates,
            self.ops.edits,
            self.ops.deletes,
            self.chaos.total_kills(),
            kills(procs::OUTLOOK),
            kills(procs::ZOHO),
            kills(procs::SYNC),
            kills(procs::AUTH),
            self.chaos.aimed_kills,
            self.chaos.broker_outages,
            self.chaos.database_outages,
            if self.settled {
                "settled"
            } else {
                "NOT settled"
            },
            self.settle_secs,
            self.elapsed_secs,
        )
    }

    /// Settled, and nothing lost, duplicated, stale, resurrected or unexpected.
    pub fn passed(&self) -> bool {
        self.settled && self.verdict.total.clean() && self.workload_errors.is_empty()
    }
}

/// sync-service's partition lease in the run (seconds).
const PARTITION_LEASE_SECS: &str = "5";

/// One run with `seed` (the seeder's data, the workload and the faults all follow from it).
pub async fn run(paths: &Paths, config: &Config, seed: u64) -> anyhow::Result<RunReport> {
    let started = Instant::now();
    let scenario = format!("crash-{seed}");
    // Short leases: a killed connector's polls and request slots are taken over in seconds.
    // A killed sync-service's partitions too (their changes wait in the queue until then).
    let env = [
        ("SYNC_LEASE_SECS", "10"),
        ("SYNC_SLOT_LEASE_SECS", "10"),
        ("SYNC_SERVICE_PARTITION_LEASE_SECS", PARTITION_LEASE_SECS),
    ];
    let mut system = if config.chaos.restart_servers {
        System::start(paths, &scenario, &procs::ALL, &env).await?
    } else {
        System::start_proxied(paths, &scenario, &procs::ALL, &env).await?
    };
    let outcome = drive(&mut system, config, seed, started).await;
    if outcome.as_ref().map_or(true, |r| !r.passed()) {
        system.keep = true;
        eprintln!(
            "the services' logs: {}",
            system
                .log_of(procs::SYNC)
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    system.stop().await;
    outcome
}

async fn drive(
    system: &mut System,
    config: &Config,
    seed: u64,
    started: Instant,
) -> anyhow::Result<RunReport> {
    let accounts = system
        .new_accounts(&format!("crash-{seed}@example.test"))
        .await?;
    system
        .seed(
            &accounts,
            config.contacts,
            config.tasks,
            config.events,
            config.shared_share,
            seed,
        )
        .await?;
    let task_list_id = system.default_task_list(&accounts).await?;
    let target = Target {
        mailbox_id: accounts.mailbox_id.clone(),
        org_id: accounts.org_id.clone(),
        contact_folder_id: accounts.contact_folder_id.clone(),
        task_list_id,
    };

    // The model of the seeded data, read before anything syncs.
    let mut model = Model::default();
    let mut seeded = BTreeMap::new();
    for kind in KINDS {
        let outlook = found(system, &target, kind, Side::Outlook).await?;
        let zoho = found(system, &target, kind, Side::Zoho).await?;
        seeded.insert(kind, (outlook.len(), zoho.len()));
        model.seed(kind, &outlook, &zoho);
    }
    let ambiguous_seed_keys = model.ambiguous_seed_keys();

    let pool = service_kit::database::connect(&system.database, "sync").await?;
    let user_id = system.create_user(&accounts).await?;
    system
        .put_settings(
            &user_id,
            json!({
                "contact_folder_id": target.contact_folder_id,
                "contacts": {"enabled": true, "direction": "two_way"},
                "task_list_id": target.task_list_id,
                "tasks": {"enabled": true, "direction": "two_way"},
                "events": {"enabled": true, "direction": "two_way"},
                "calendar_categories": {"mode": "all"},
                "conflict_rule": "zoho_wins",
                "poll_interval_secs": config.poll_interval_secs,
            }),
        )
        .await?;
    let user = uuid::Uuid::parse_str(&user_id)?;
    eprintln!(
        "  seed {seed}: {} contacts, {} tasks, {} events per side; first sync started, \
         workload and faults for {} s",
        config.contacts, config.tasks, config.events, config.chaos_secs
    );

    // The workload runs beside the faults until they stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut workload = Workload::new(
        system.http.clone(),
        system.sandbox_url.clone(),
        target.clone(),
        model,
        seed,
        chrono::Utc::now().date_naive(),
    );
    let aim = chaos::Aim {
        mailbox_id: target.mailbox_id.clone(),
        org_id: target.org_id.clone(),
        workload_graph_creates: workload.graph_creates.clone(),
        workload_zoho_inserts: workload.zoho_inserts.clone(),
    };
    let workload_task = {
        let stop = stop.clone();
        let pool = pool.clone();
        let pause = Duration::from_secs_f64(1.0 / config.ops_per_sec);
        tokio::spawn(async move {
            let mut errors = Vec::new();
            let mut checked = Instant::now() - Duration::from_secs(60);
            while !stop.load(Ordering::SeqCst) {
                if checked.elapsed() > Duration::from_secs(2) {
                    if let Ok(done) = first_sync_done(&pool, user).await {
                        workload.first_sync_done = done;
                    }
                    checked = Instant::now();
                }
                if let Err(err) = workload.step().await {
                    errors.push(format!("{err:#}"));
                }
                tokio::time::sleep(pause).await;
            }
            (workload, errors)
        })
    };
    let chaos = chaos::run(
        system,
        &config.chaos,
        &aim,
        seed,
        Duration::from_secs(config.chaos_secs),
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    let (workload, workload_errors) = workload_task.await.context("the workload panicked")?;
    let chaos = chaos?;
    eprintln!(
        "  faults over: {} kills, {} broker and {} database outage(s); {} creates, {} edits, \
         {} deletes; settling",
        chaos.total_kills(),
        chaos.broker_outages,
        chaos.database_outages,
        workload.counts.creates,
        workload.counts.edits,
        workload.counts.deletes
    );

    let settle_started = Instant::now();
    let (settled, held) = settle(system, &pool, user, &target, config).await?;
    let settle_secs = settle_started.elapsed().as_secs_f64();

    let mut actual = BTreeMap::new();
    let links = active_links(&pool, user).await?;
    for kind in KINDS {
        actual.insert(
            kind,
            Actual {
                outlook: found(system, &target, kind, Side::Outlook).await?,
                zoho: found(system, &target, kind, Side::Zoho).await?,
                links: links.get(&kind).cloned().unwrap_or_default(),
            },
        );
    }
    pool.close().await;
    let verdict = oracle::judge(&workload.model, &actual);
    Ok(RunReport {
        seed,
        config: config.clone(),
        seeded,
        ambiguous_seed_keys,
        ops: workload.counts,
        workload_errors: workload_errors.into_iter().take(10).collect(),
        chaos,
        settled,
        settle_secs,
        held,
        verdict,
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}

/// Every item of `kind` a side holds now: (key, id, marker).
async fn found(
    system: &System,
    target: &Target,
    kind: Kind,
    side: Side,
) -> anyhow::Result<Vec<oracle::Found>> {
    let control = system.control();
    let items = match side {
        Side::Outlook => {
            control
                .mailbox_items(&target.mailbox_id, kind.outlook_collection())
                .await?
        }
        Side::Zoho => {
            control
                .org_records(&target.org_id, kind.zoho_module())
                .await?
        }
    };
    Ok(items
        .iter()
        .filter_map(|item| {
            Some(oracle::Found {
                key: keys::key(kind, side, item, &target.task_list_id)?,
                id: keys::id(item),
                marker: keys::marker(kind, side, item),
                made_by: keys::made_by(side, item),
            })
        })
        .collect())
}

async fn first_sync_done(
    pool: &sqlx::PgPool,
    user: uuid::Uuid,
) -> anyhow::Result<BTreeMap<Kind, bool>> {
    let rows: Vec<(String, bool)> =
        sqlx::query_as("SELECT kind, first_sync_done FROM kind_progress WHERE user_id = $1")
            .bind(user)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(kind, done)| Some((KINDS.into_iter().find(|k| k.name() == kind)?, done)))
        .collect())
}

/// sync-service's active links with both ids, per kind.
async fn active_links(
    pool: &sqlx::PgPool,
    user: uuid::Uuid,
) -> anyhow::Result<BTreeMap<Kind, BTreeSet<(String, String)>>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT kind, outlook_id, zoho_id FROM links
         WHERE user_id = $1 AND status = 'active'
           AND outlook_id IS NOT NULL AND zoho_id IS NOT NULL",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    let mut links: BTreeMap<Kind, BTreeSet<(String, String)>> = BTreeMap::new();
    for (kind, outlook, zoho) in rows {
        if let Some(kind) = KINDS.into_iter().find(|k| k.name() == kind) {
            links.entry(kind).or_default().insert((outlook, zoho));
        }
    }
    Ok(links)
}

/// One kind's links, read from sync-service's tables (as the benchmark does): linked with
/// nothing in flight, held for a person on each side, and waiting for something.
#[derive(Debug, Clone, PartialEq)]
struct LinkCounts {
    first_sync_done: bool,
    linked: i64,
    held_outlook: i64,
    held_zoho: i64,
    waiting: i64,
}

async fn link_counts(
    pool: &sqlx::PgPool,
    user: uuid::Uuid,
    kind: Kind,
) -> anyhow::Result<LinkCounts> {
    let (linked, held_outlook, held_zoho, waiting): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT
           count(*) FILTER (WHERE status = 'active' AND outlook_id IS NOT NULL
               AND zoho_id IS NOT NULL AND doc->'outlook'->'inflight' = 'null'::jsonb
               AND doc->'zoho'->'inflight' = 'null'::jsonb),
           count(*) FILTER (WHERE status = 'ambiguous' AND outlook_id IS NOT NULL),
           count(*) FILTER (WHERE status = 'ambiguous' AND zoho_id IS NOT NULL),
           count(*) FILTER (WHERE status NOT IN ('deleted', 'ambiguous') AND NOT (
               status = 'active' AND outlook_id IS NOT NULL AND zoho_id IS NOT NULL
               AND doc->'outlook'->'inflight' = 'null'::jsonb
               AND doc->'zoho'->'inflight' = 'null'::jsonb))
         FROM links WHERE user_id = $1 AND kind = $2",
    )
    .bind(user)
    .bind(kind.name())
    .fetch_one(pool)
    .await?;
    let done = first_sync_done(pool, user).await?;
    Ok(LinkCounts {
        first_sync_done: done.get(&kind).copied().unwrap_or(false),
        linked,
        held_outlook,
        held_zoho,
        waiting,
    })
}

/// Waits until the system has settled: every service up, the outbox empty, every kind's first
/// sync done with no link waiting for anything, and all of that (with both sides' item counts)
/// unchanged for two poll intervals and more; when a side's count differs from sync-service's
/// linked items (an item a link points at is gone, a copy nothing links), the state must hold
/// three times as long before it counts as final. Returns whether it settled within the bound,
/// and the held links per kind.
async fn settle(
    system: &mut System,
    pool: &sqlx::PgPool,
    user: uuid::Uuid,
    target: &Target,
    config: &Config,
) -> anyhow::Result<(bool, BTreeMap<Kind, i64>)> {
    let deadline = Instant::now() + Duration::from_secs(config.settle_timeout_secs);
    // Longer than a killed sync-service's partition lease: its queued changes wait that long.
    let lease: u64 = PARTITION_LEASE_SECS.parse().unwrap_or(10);
    let quiet_for =
        Duration::from_secs((u64::from(config.poll_interval_secs) * 2 + 5).max(lease + 5));
    let mut last: Option<(Value, Instant)> = None;
    let mut last_line = Instant::now();
    loop {
        for name in [procs::AUTH, procs::SYNC, procs::OUTLOOK, procs::ZOHO] {
            if !system.alive(name) {
                system.spawn(name)?;
            }
        }
        let state = settle_state(system, pool, user, target).await;
        if let Ok(current) = &state {
            if last.as_ref().is_none_or(|(f, _)| *f != current.fingerprint) {
                last = Some((current.fingerprint.clone(), Instant::now()));
            }
            let needed = if current.counts_agree {
                quiet_for
            } else {
                quiet_for * 3
            };
            if current.idle
                && last
                    .as_ref()
                    .is_some_and(|(_, since)| since.elapsed() >= needed)
            {
                return Ok((true, current.held.clone()));
            }
        }
        if Instant::now() > deadline {
            eprintln!(
                "  NOT settled after {} s: {:?}",
                config.settle_timeout_secs,
                state.as_ref().map(|s| &s.fingerprint)
            );
            return Ok((false, state.map(|s| s.held).unwrap_or_default()));
        }
        if last_line.elapsed() > Duration::from_secs(15) {
            eprintln!(
                "  settling: {}",
                state
                    .as_ref()
                    .map(|s| s.fingerprint.to_string())
                    .unwrap_or_else(|e| format!("{e:#}"))
            );
            last_line = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

struct SettleState {
    /// Everything the settling compares between two looks.
    fingerprint: Value,
    /// Nothing to do: the outbox empty, every first sync done, no link waiting.
    idle: bool,
    /// Each side holds exactly the linked items plus those held for a person.
    counts_agree: bool,
    held: BTreeMap<Kind, i64>,
}

async fn settle_state(
    system: &System,
    pool: &sqlx::PgPool,
    user: uuid::Uuid,
    target: &Target,
) -> anyhow::Result<SettleState> {
    let status = system.status(&user.to_string()).await?;
    let outbox = status["outbox_pending"].as_i64().unwrap_or(-1);
    // Changes held behind a failed one wait for their retry (decision #58).
    let (held_messages,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM held_messages WHERE user_id = $1 AND dead_at IS NULL")
            .bind(user)
            .fetch_one(pool)
            .await?;
    let mut idle = outbox == 0 && held_messages == 0;
    let mut counts_agree = true;
    let mut kinds = Vec::new();
    let mut held = BTreeMap::new();
    for kind in KINDS {
        let links = link_counts(pool, user, kind).await?;
        let mut counts = BTreeMap::new();
        for side in SIDES {
            counts.insert(side, found(system, target, kind, side).await?.len() as i64);
        }
        idle &= links.first_sync_done && links.waiting == 0;
        counts_agree &= counts[&Side::Outlook] == links.linked + links.held_outlook
            && counts[&Side::Zoho] == links.linked + links.held_zoho;
        held.insert(kind, links.held_outlook + links.held_zoho);
        kinds.push(json!({
            "kind": kind.name(), "first_sync_done": links.first_sync_done,
            "linked": links.linked, "held": links.held_outlook + links.held_zoho,
            "waiting": links.waiting, "outlook": counts[&Side::Outlook],
            "zoho": counts[&Side::Zoho],
        }));
    }
    Ok(SettleState {
        fingerprint: json!({"outbox": outbox, "held_messages": held_messages, "kinds": kinds}),
        idle,
        counts_agree,
        held,
    })
}

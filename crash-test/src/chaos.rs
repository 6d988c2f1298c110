//! The faults: services killed with SIGKILL at random (seeded) moments and started again after a
//! short while, one outage of the broker and one of the database per run, and a supervisor
//! that starts again any service that stopped on its own (a service exits when it loses the
//! broker, by design, and when it starts while Postgres is down), as compose or Kubernetes would.
//!
//! Outages are either of this run alone (the default: the services reach Postgres and RabbitMQ
//! through the harness's proxies, which are cut and restored) or real restarts of the machine's
//! servers (`--restart-servers`: `rabbitmqctl stop_app`/`start_app` and `pg_ctlcluster ...
//! restart`, which disturb everything else using them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harness::procs;
use harness::system::System;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// The services the faults hit, with their weights: the connectors and sync-service most.
const VICTIMS: [(&str, u32); 4] = [
    (procs::OUTLOOK, 30),
    (procs::ZOHO, 30),
    (procs::SYNC, 25),
    (procs::AUTH, 15),
];

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// No faults at all: the control run, where only the workload runs beside the first sync.
    pub calm: bool,
    /// Seconds between kills, drawn from this range.
    pub kill_gap_secs: (f64, f64),
    /// The same during the first `busy_secs` of the run (the first sync's creates).
    pub busy_kill_gap_secs: (f64, f64),
    pub busy_secs: f64,
    /// Kills aimed at a connector's writes during the busy time: when the sandbox has just
    /// counted a connector's create (Graph) or record insert (Zoho), that connector is killed
    /// at once, at most this many times (the crash the first-sync creates are most exposed to).
    pub aimed_kills: u32,
    /// How long a killed service stays down.
    pub down_secs: (f64, f64),
    /// When the broker and the database go down, in seconds from the start.
    pub broker_outage_at: f64,
    pub database_outage_at: f64,
    pub outage_secs: f64,
    /// Restart the machine's RabbitMQ and Postgres instead of cutting this run's proxies.
    pub restart_servers: bool,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Log {
    pub kills: BTreeMap<String, u64>,
    /// Of the kills, those aimed at a connector's writes.
    pub aimed_kills: u64,
    /// Services found stopped on their own (after losing the broker, say) and started again.
    pub exits: BTreeMap<String, u64>,
    pub broker_outages: u64,
    pub database_outages: u64,
    /// What happened when, in seconds from the start.
    pub events: Vec<String>,
}

impl Log {
    pub fn total_kills(&self) -> u64 {
        self.kills.values().sum()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Pending,
    Down(Instant),
    Done,
}

/// A service to kill, by the weights of [`VICTIMS`].
fn pick_victim(rng: &mut StdRng) -> &'static str {
    let total: u32 = VICTIMS.iter().map(|v| v.1).sum();
    let mut roll = rng.random_range(0..total);
    for (name, weight) in VICTIMS {
        if roll < weight {
            return name;
        }
        roll -= weight;
    }
    procs::SYNC
}

#[derive(Clone, Copy, PartialEq)]
enum Outage {
    Broker,
    Database,
}

/// Where the aimed kills look: the sandbox's call counters of the run's two accounts, less the
/// creates the workload made itself.
pub struct Aim {
    pub mailbox_id: String,
    pub org_id: String,
    pub workload_graph_creates: Arc<AtomicU64>,
    pub workload_zoho_inserts: Arc<AtomicU64>,
}

impl Aim {
    /// (Graph creates, Zoho inserts) by the connectors so far. The sandbox counts each request
    /// of a `$batch` under its own label; a `$batch` of reads (series masters) is no write.
    async fn writes(&self, system: &System) -> anyhow::Result<(u64, u64)> {
        let stats = system.stats().await?;
        let sum = |ops: &serde_json::Value, f: &dyn Fn(&str) -> bool| -> u64 {
            ops.as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(label, _)| f(label))
                        .map(|(_, n)| n.as_u64().unwrap_or(0))
                        .sum()
                })
                .unwrap_or(0)
        };
        let graph = sum(
            &stats["graph"]["mailboxes"][&self.mailbox_id]["operations"],
            &|l| l.starts_with("POST /me/"),
        );
        let zoho = sum(&stats["zoho"]["orgs"][&self.org_id]["operations"], &|l| {
            l.starts_with("POST /") && !l.contains("token")
        });
        let own_graph = self.workload_graph_creates.load(Ordering::SeqCst);
        let own_zoho = self.workload_zoho_inserts.load(Ordering::SeqCst);
        Ok((
            graph.saturating_sub(own_graph),
            zoho.saturating_sub(own_zoho),
        ))
    }
}

/// Runs the faults for `duration`, then leaves every service running and the proxies up.
pub async fn run(
    system: &mut System,
    config: &Config,
    aim: &Aim,
    seed: u64,
    duration: Duration,
) -> anyhow::Result<Log> {
    if config.calm {
        tokio::time::sleep(duration).await;
        return Ok(Log::default());
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x000c_4a05);
    let mut log = Log::default();
    let started = Instant::now();
    let secs = |t: Instant| t.duration_since(started).as_secs_f64();
    let draw =
        |rng: &mut StdRng, (a, b): (f64, f64)| Duration::from_secs_f64(rng.random_range(a..=b));
    let mut next_kill = started + draw(&mut rng, config.busy_kill_gap_secs);
    // Killed services and when they come back.
    let mut down: BTreeMap<&'static str, Instant> = BTreeMap::new();
    let mut outages: Vec<(Outage, Instant, Phase)> = vec![
        (
            Outage::Broker,
            started + Duration::from_secs_f64(config.broker_outage_at),
            Phase::Pending,
        ),
        (
            Outage::Database,
            started + Duration::from_secs_f64(config.database_outage_at),
            Phase::Pending,
        ),
    ];
    let mut last_spawn: BTreeMap<&'static str, Instant> = BTreeMap::new();
    let mut aimed_left = config.aimed_kills;
    let mut last_writes = aim.writes(system).await.unwrap_or_default();
    // Until the time is up and every outage has come and gone.
    while started.elapsed() < duration || outages.iter().any(|o| o.2 != Phase::Done) {
        let now = Instant::now();
        if now >= next_kill && started.elapsed() < duration {
            let victim = pick_victim(&mut rng);
            if !down.contains_key(victim) {
                system.kill(victim).await;
                *log.kills.entry(victim.to_owned()).or_default() += 1;
                log.events
                    .push(format!("{:7.1} s  SIGKILL {victim}", secs(Instant::now())));
                down.insert(victim, Instant::now() + draw(&mut rng, config.down_secs));
            }
            let gap = if secs(now) < config.busy_secs {
                config.busy_kill_gap_secs
            } else {
                config.kill_gap_secs
            };
            next_kill = now + draw(&mut rng, gap);
        }
        if aimed_left > 0
            && secs(now) < config.busy_secs
            && let Ok(writes) = aim.writes(system).await
        {
            // Above the highest count seen: the workload counts its own create just before
            // sending it, so the difference may dip for a moment and come back.
            let wrote = [
                (procs::OUTLOOK, writes.0 > last_writes.0),
                (procs::ZOHO, writes.1 > last_writes.1),
            ];
            last_writes = (last_writes.0.max(writes.0), last_writes.1.max(writes.1));
            for (victim, busy) in wrote {
                if busy && aimed_left > 0 && !down.contains_key(victim) && rng.random_bool(0.5) {
                    system.kill(victim).await;
                    aimed_left -= 1;
                    *log.kills.entry(victim.to_owned()).or_default() += 1;
                    log.aimed_kills += 1;
                    log.events.push(format!(
                        "{:7.1} s  SIGKILL {victim} while it writes",
                        secs(Instant::now())
                    ));
                    down.insert(victim, Instant::now() + draw(&mut rng, config.down_secs));
                }
            }
        }
        for (name, back) in down.clone() {
            if Instant::now() >= back {
                system.spawn(name)?;
                last_spawn.insert(name, Instant::now());
                down.remove(name);
            }
        }
        for (outage, at, phase) in outages.iter_mut() {
            match *phase {
                Phase::Pending if Instant::now() >= *at => {
                    begin(system, *outage, config.restart_servers, &mut log).await?;
                    log.events.push(format!(
                        "{:7.1} s  {} down",
                        secs(Instant::now()),
                        name(*outage)
                    ));
                    *phase =
                        Phase::Down(Instant::now() + Duration::from_secs_f64(config.outage_secs));
                }
                Phase::Down(end) if Instant::now() >= end => {
                    end_outage(system, *outage, config.restart_servers).await?;
                    log.events.push(format!(
                        "{:7.1} s  {} back",
                        secs(Instant::now()),
                        name(*outage)
                    ));
                    *phase = Phase::Done;
                }
                _ => {}
            }
        }
        supervise(
            system,
            &down,
            &mut last_spawn,
            &mut log,
            secs(Instant::now()),
        )?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (name, _) in down {
        system.spawn(name)?;
    }
    Ok(log)
}

fn name(outage: Outage) -> &'static str {
    match outage {
        Outage::Broker => "RabbitMQ",
        Outage::Database => "Postgres",
    }
}

/// Starts again, at most once a second each, the services that stopped on their own.
fn supervise(
    system: &mut System,
    down: &BTreeMap<&'static str, Instant>,
    last_spawn: &mut BTreeMap<&'static str, Instant>,
    log: &mut Log,
    at: f64,
) -> anyhow::Result<()> {
    for (name, _) in VICTIMS {
        if down.contains_key(name) || system.alive(name) {
            continue;
        }
        if last_spawn
            .get(name)
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            continue;
        }
        *log.exits.entry(name.to_owned()).or_default() += 1;
        log.events
            .push(format!("{at:7.1} s  {name} had stopped; started again"));
        system.spawn(name)?;
        last_spawn.insert(name, Instant::now());
    }
    Ok(())
}

async fn begin(
    system: &mut System,
    outage: Outage,
    restart_servers: bool,
    log: &mut Log,
) -> anyhow::Result<()> {
    match outage {
        Outage::Broker => log.broker_outages += 1,
        Outage::Database => log.database_outages += 1,
    }
    if restart_servers {
        match outage {
            Outage::Broker => command("rabbitmqctl", &["stop_app"]).await,
            // A restart is down and up at once; the outage's length is the restart's.
            Outage::Database => {
                let cluster = postgres_cluster().await?;
                command(
                    "pg_ctlcluster",
                    &[&cluster.0, &cluster.1, "restart", "-m", "fast"],
                )
                .await
            }
        }
    } else {
        let proxies = system
            .proxies
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the system was not started with proxies"))?;
        match outage {
            Outage::Broker => proxies.broker.cut().await,
            Outage::Database => proxies.database.cut().await,
        }
        Ok(())
    }
}

async fn end_outage(
    system: &mut System,
    outage: Outage,
    restart_servers: bool,
) -> anyhow::Result<()> {
    if restart_servers {
        if outage == Outage::Broker {
            command("rabbitmqctl", &["start_app"]).await?;
        }
        return Ok(());
    }
    if let Some(proxies) = &system.proxies {
        match outage {
            Outage::Broker => proxies.broker.restore(),
            Outage::Database => proxies.database.restore(),
        }
    }
    Ok(())
}

async fn command(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("cannot run {program}: {e}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The (version, name) of the Postgres cluster on port 5432, from `pg_lsclusters`.
async fn postgres_cluster() -> anyhow::Result<(String, String)> {
    let output = tokio::process::Command::new("pg_lsclusters")
        .arg("-h")
        .output()
        .await?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&"5432"))
        .map(|f| (f[0].to_owned(), f[1].to_owned()))
        .ok_or_else(|| anyhow::anyhow!("no Postgres cluster on port 5432 in pg_lsclusters"))
}

//! Scenario 2, steady state: many users with synced contacts, edits at a set rate on both sides;
//! the propagation latency of each edit, from the emulator that took it to its arrival in the
//! other one. Then the services' memory with the same users idle.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::procs::{self, Usage};
use crate::progress::{Progress, step};
use crate::system::{Accounts, Paths, System};

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub users: usize,
    /// Contacts per user, on both sides (matched at the first sync).
    pub items_per_user: usize,
    pub poll_interval_secs: u32,
    /// Edits per second, in all, alternating between the sides.
    pub edits_per_sec: f64,
    pub edit_secs: u64,
    /// How long to wait for the first syncs.
    pub setup_timeout_secs: u64,
    /// The poison scenario: once the first syncs are done, every write of one user's links
    /// fails in Postgres (a trigger), and a share of the edits goes to that user; the latency
    /// is measured for the others.
    pub poison: bool,
}

impl Config {
    pub fn full() -> Self {
        Config {
            users: 500,
            items_per_user: 200,
            poll_interval_secs: 10,
            edits_per_sec: 5.0,
            edit_secs: 120,
            setup_timeout_secs: 1200,
            poison: false,
        }
    }

    /// The poison scenario at its default size.
    pub fn poison() -> Self {
        Config {
            users: 50,
            items_per_user: 50,
            poll_interval_secs: 10,
            edits_per_sec: 5.0,
            edit_secs: 90,
            setup_timeout_secs: 600,
            poison: true,
        }
    }

    pub fn poison_quick() -> Self {
        Config {
            poison: true,
            ..Config::quick()
        }
    }

    pub fn quick() -> Self {
        Config {
            users: 10,
            items_per_user: 20,
            poll_interval_secs: 2,
            edits_per_sec: 4.0,
            edit_secs: 8,
            setup_timeout_secs: 240,
            poison: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// `outlook_to_zoho` or `zoho_to_outlook`.
    pub direction: &'static str,
    /// Seconds since the edit phase began.
    pub at_secs: f64,
    pub latency_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(latencies: &[f64]) -> Self {
        let mut sorted = latencies.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if sorted.is_empty() {
                return 0.0;
            }
            let index = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
            sorted[index]
        };
        Percentiles {
            count: sorted.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: sorted.last().copied().unwrap_or(0.0),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Result {
    pub config: Config,
    /// Seconds until every user's first sync was complete.
    pub setup_secs: f64,
    pub users_synced: usize,
    pub edits: usize,
    /// Edits that had not arrived when the run ended.
    pub lost: usize,
    pub all: Percentiles,
    pub outlook_to_zoho: Percentiles,
    pub zoho_to_outlook: Percentiles,
    pub samples: Vec<Sample>,
    /// Each service's memory with every user idle, after the edits (peak: since start).
    pub idle_usage: BTreeMap<String, Usage>,
    /// CPU seconds each service spent during the edit phase.
    pub edit_cpu_secs: BTreeMap<String, f64>,
    /// How often the latency of an edit was checked (its resolution).
    pub check_every_ms: u64,
    /// The poison scenario's user (the latencies above are the other users').
    pub poisoned: Option<Poisoned>,
}

/// The poisoned user, at the end of the edits.
#[derive(Debug, Clone, Serialize)]
pub struct Poisoned {
    pub user_id: String,
    /// Edits made to the user's contacts (none can arrive).
    pub edits: usize,
    /// What the user's status showed: `held.state` (`retrying` or `blocked`), the attempts and
    /// the reason.
    pub held: Value,
}

/// One user, ready for edits: the pairs of ids of their contacts.
struct Ready {
    accounts: Accounts,
    user_id: String,
    pairs: Vec<(String, String)>,
    graph_token: String,
    zoho_token: String,
    zoho_api: String,
}

const CHECK_EVERY: Duration = Duration::from_millis(200);

pub async fn run(paths: &Paths, config: &Config) -> anyhow::Result<Result> {
    step(&format!(
        "steady state: {} users with {} contacts each, {} edits/s for {} s, polls every {} s",
        config.users,
        config.items_per_user,
        config.edits_per_sec,
        config.edit_secs,
        config.poll_interval_secs
    ));
    let scenario = if config.poison {
        "poison"
    } else {
        "steady-state"
    };
    let mut system = System::start(paths, scenario, &procs::ALL, &[]).await?;
    let outcome = measure(&mut system, config).await;
    system.stop().await;
    outcome
}

async fn measure(system: &mut System, config: &Config) -> anyhow::Result<Result> {
    let system_ref: &System = system;
    let started = Instant::now();
    let mut progress = Progress::new();
    // Provision the users, 16 at a time.
    let provisioned: Vec<anyhow::Result<(Accounts, String)>> =
        futures_util::stream::iter(0..config.users)
            .map(|i| async move {
                let accounts = system_ref
                    .new_accounts(&format!("user{i}@bench.example"))
                    .await?;
                system_ref
                    .seed(&accounts, config.items_per_user, 0, 0, 1.0, 1000 + i as u64)
                    .await?;
                let user_id = system_ref.create_user(&accounts).await?;
                system_ref
                    .put_settings(
                        &user_id,
                        json!({
                            "contact_folder_id": accounts.contact_folder_id,
                            "contacts": {"enabled": true, "direction": "two_way"},
                            "conflict_rule": "zoho_wins",
                            "poll_interval_secs": config.poll_interval_secs,
                        }),
                    )
                    .await?;
                Ok((accounts, user_id))
            })
            .buffer_unordered(16)
            .collect()
            .await;
    let users: Vec<(Accounts, String)> = provisioned.into_iter().collect::<anyhow::Result<_>>()?;
    progress.done(&format!("{} users provisioned", users.len()));

    // Wait for every first sync: one query of sync-service's tables rather than 500 status
    // calls a second, which would slow down what they watch.
    let pool = service_kit::database::connect(&system.database, "sync").await?;
    let index: HashMap<uuid::Uuid, usize> = users
        .iter()
        .enumerate()
        .filter_map(|(i, (_, id))| Some((uuid::Uuid::parse_str(id).ok()?, i)))
        .collect();
    let deadline = started + Duration::from_secs(config.setup_timeout_secs);
    let mut done = vec![false; users.len()];
    loop {
        let dead = system.dead();
        anyhow::ensure!(dead.is_empty(), "{dead:?} stopped during the run");
        let complete: Vec<(uuid::Uuid,)> = sqlx::query_as(
            "SELECT p.user_id FROM kind_progress p
             WHERE p.kind = 'contact' AND p.first_sync_done AND NOT EXISTS (
                 SELECT 1 FROM links l
                 WHERE l.user_id = p.user_id AND l.kind = 'contact' AND l.status <> 'deleted'
                   AND NOT (l.status = 'active' AND l.outlook_id IS NOT NULL
                       AND l.zoho_id IS NOT NULL
                       AND l.doc->'outlook'->'inflight' = 'null'::jsonb
                       AND l.doc->'zoho'->'inflight' = 'null'::jsonb))",
        )
        .fetch_all(&pool)
        .await?;
        for (user,) in complete {
            if let Some(i) = index.get(&user) {
                done[*i] = true;
            }
        }
        let synced = done.iter().filter(|d| **d).count();
        progress.show(&format!("first syncs complete: {synced}/{}", users.len()));
        if synced == users.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    pool.close().await;
    let setup_secs = started.elapsed().as_secs_f64();
    let users_synced = done.iter().filter(|d| **d).count();
    progress.done(&format!(
        "first syncs complete: {users_synced}/{} in {setup_secs:.1} s",
        users.len()
    ));
    anyhow::ensure!(users_synced > 0, "no user finished the first sync");

    // The pairs of ids, by primary e-mail address (the seeder makes them alike on both sides).
    let system_ref: &System = system;
    let ready: Vec<anyhow::Result<Ready>> =
        futures_util::stream::iter(users.iter().zip(&done).filter(|(_, d)| **d).map(
            |((accounts, user_id), _)| async move {
                let outlook = system_ref.outlook_items(accounts, "contacts").await?;
                let zoho = system_ref.zoho_records(accounts, "Contacts").await?;
                let by_email: HashMap<String, String> = zoho
                    .iter()
                    .filter_map(|r| {
                        Some((
                            r["Email"].as_str()?.to_lowercase(),
                            r["id"].as_str()?.to_owned(),
                        ))
                    })
                    .collect();
                let pairs = outlook
                    .iter()
                    .filter_map(|c| {
                        let email = c["emailAddresses"][0]["address"].as_str()?.to_lowercase();
                        Some((c["id"].as_str()?.to_owned(), by_email.get(&email)?.clone()))
                    })
                    .collect();
                let graph_token = system_ref.graph_token(accounts).await?;
                let (zoho_token, zoho_api) = system_ref.zoho_token(accounts).await?;
                Ok(Ready {
                    accounts: accounts.clone(),
                    user_id: user_id.clone(),
                    pairs,
                    graph_token,
                    zoho_token,
                    zoho_api,
                })
            },
        ))
        .buffer_unordered(16)
        .collect()
        .await;
    let ready: Vec<Arc<Ready>> = ready
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .filter(|r| !r.pairs.is_empty())
        .map(Arc::new)
        .collect();
    anyhow::ensure!(!ready.is_empty(), "no contact pairs to edit");

    // The poison scenario: the first user's links can no longer be written.
    let victim = if config.poison {
        anyhow::ensure!(
            ready.len() >= 2,
            "the poison scenario needs two users or more"
        );
        let victim = ready[0].clone();
        let pool = service_kit::database::connect(&system.database, "sync").await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE FUNCTION bench_poison() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RAISE EXCEPTION 'the benchmark refuses this user''s links'; END $$;
             CREATE TRIGGER bench_poison BEFORE UPDATE ON links FOR EACH ROW
                 WHEN (NEW.user_id = '{}') EXECUTE FUNCTION bench_poison();",
            uuid::Uuid::parse_str(&victim.user_id)?
        )))
        .execute(&pool)
        .await?;
        pool.close().await;
        progress.done(&format!(
            "poisoned: every write of {}'s links fails",
            victim.accounts.email
        ));
        Some(victim)
    } else {
        None
    };
    let mut victim_edits = 0;

    // The edits: one every 1/rate seconds, alternating sides, each on a contact not edited
    // before in this run (so no edit meets another one's conflict). In the poison scenario,
    // every fourth goes to the poisoned user, unwatched.
    let cpu_before = system.usage();
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let edit_started = Instant::now();
    let total_edits = (config.edits_per_sec * config.edit_secs as f64).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / config.edits_per_sec);
    let mut watchers = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut used: HashMap<(usize, usize), ()> = HashMap::new();
    let give_up = Duration::from_secs(u64::from(config.poll_interval_secs) * 3 + 30);
    let total_pairs: usize = ready.iter().map(|r| r.pairs.len()).sum();
    let mut ticker = tokio::time::interval(interval);
    let first = usize::from(victim.is_some());
    let mut watched = 0;
    for n in 0..total_edits {
        ticker.tick().await;
        if let Some(victim) = victim.as_ref().filter(|_| n % 4 == 3) {
            let pair = victim_edits % victim.pairs.len();
            victim_edits += 1;
            let marker = format!("poisoned-{n}");
            if let Err(err) = edit(
                &system.http,
                &system.sandbox_url,
                victim,
                pair,
                n % 2 == 0,
                &marker,
            )
            .await
            {
                eprintln!("warning: an edit of the poisoned user failed: {err:#}");
            }
            continue;
        }
        watched += 1;
        let (u, p) = loop {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let u = first + (rng % (ready.len() - first) as u64) as usize;
            let p = ((rng >> 20) % ready[u].pairs.len() as u64) as usize;
            if used.insert((u, p), ()).is_none() || used.len() >= total_pairs {
                break (u, p);
            }
        };
        let user = ready[u].clone();
        let http = system.http.clone();
        let sandbox = system.sandbox_url.clone();
        let sink = samples.clone();
        let from_outlook = n % 2 == 0;
        let marker = format!("bench-{n}-{}", edit_started.elapsed().as_millis());
        watchers.push(tokio::spawn(async move {
            edit_and_watch(
                &http,
                &sandbox,
                &user,
                p,
                from_outlook,
                &marker,
                edit_started,
                give_up,
                &sink,
            )
            .await
        }));
        progress.show(&format!(
            "edits {}/{total_edits}, arrived {}",
            n + 1,
            samples.lock().await.len()
        ));
    }
    let mut errors = Vec::new();
    let pending = watchers.len();
    for (i, watcher) in watchers.into_iter().enumerate() {
        match watcher.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => errors.push(format!("{err:#}")),
            Err(err) => errors.push(err.to_string()),
        }
        progress.show(&format!(
            "waiting for the last edits to arrive: {}/{pending}",
            i + 1
        ));
    }
    let samples = samples.lock().await.clone();
    let lost = watched - samples.len();
    progress.done(&format!(
        "{} edits watched, {} arrived, {lost} did not{}",
        watched,
        samples.len(),
        errors
            .first()
            .map(|e| format!(" (first problem: {e})"))
            .unwrap_or_default()
    ));
    let cpu_after = system.usage();
    let edit_cpu_secs = cpu_after
        .iter()
        .map(|(name, u)| {
            (
                name.clone(),
                u.cpu_secs - cpu_before.get(name).map_or(0.0, |b| b.cpu_secs),
            )
        })
        .collect();

    let poisoned = match &victim {
        Some(victim) => Some(Poisoned {
            user_id: victim.user_id.clone(),
            edits: victim_edits,
            held: system.status(&victim.user_id).await?["held"].clone(),
        }),
        None => None,
    };

    // Idle: nothing changes; the connectors keep polling every user.
    let idle_wait = Duration::from_secs(u64::from(config.poll_interval_secs) * 2);
    progress.show(&format!("idle for {} s", idle_wait.as_secs()));
    tokio::time::sleep(idle_wait).await;
    let idle_usage = system.usage();
    progress.done("idle memory measured");

    let latencies = |dir: Option<&str>| -> Vec<f64> {
        samples
            .iter()
            .filter(|s| dir.is_none_or(|d| s.direction == d))
            .map(|s| s.latency_ms)
            .collect()
    };
    Ok(Result {
        config: config.clone(),
        setup_secs,
        users_synced,
        edits: watched,
        lost,
        all: Percentiles::of(&latencies(None)),
        outlook_to_zoho: Percentiles::of(&latencies(Some("outlook_to_zoho"))),
        zoho_to_outlook: Percentiles::of(&latencies(Some("zoho_to_outlook"))),
        samples,
        idle_usage,
        edit_cpu_secs,
        check_every_ms: CHECK_EVERY.as_millis() as u64,
        poisoned,
    })
}

/// Edits the pair's contact on one side (its job title), then reads the other side's contact
/// until the new title is there.
#[allow(clippy::too_many_arguments)]
async fn edit_and_watch(
    http: &reqwest::Client,
    sandbox: &str,
    user: &Ready,
    pair: usize,
    from_outlook: bool,
    marker: &str,
    edit_started: Instant,
    give_up: Duration,
    samples: &Mutex<Vec<Sample>>,
) -> anyhow::Result<()> {
    edit(http, sandbox, user, pair, from_outlook, marker).await?;
    let (outlook_id, zoho_id) = &user.pairs[pair];
    let graph = format!("{sandbox}/graph/v1.0/me/contacts/{outlook_id}");
    let zoho = format!("{}/crm/v8/Contacts/{zoho_id}", user.zoho_api);
    let zoho_auth = format!("Zoho-oauthtoken {}", user.zoho_token);
    // The change is in the emulator once it answered.
    let edited = Instant::now();
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        let arrived = if from_outlook {
            let answer: Value = http
                .get(format!("{zoho}?fields=Title"))
                .header("Authorization", &zoho_auth)
                .send()
                .await?
                .json()
                .await?;
            answer["data"][0]["Title"] == marker
        } else {
            let answer: Value = http
                .get(format!("{graph}?$select=jobTitle"))
                .bearer_auth(&user.graph_token)
                .send()
                .await?
                .json()
                .await?;
            answer["jobTitle"] == marker
        };
        if arrived {
            let latency = edited.elapsed();
            samples.lock().await.push(Sample {
                direction: if from_outlook {
                    "outlook_to_zoho"
                } else {
                    "zoho_to_outlook"
                },
                at_secs: (edited - edit_started).as_secs_f64(),
                latency_ms: latency.as_secs_f64() * 1000.0,
            });
            return Ok(());
        }
        anyhow::ensure!(
            edited.elapsed() < give_up,
            "an edit of {} did not arrive within {} s",
            user.accounts.email,
            give_up.as_secs()
        );
    }
}

/// Edits the pair's contact on one side: its job title becomes `marker`.
async fn edit(
    http: &reqwest::Client,
    sandbox: &str,
    user: &Ready,
    pair: usize,
    from_outlook: bool,
    marker: &str,
) -> anyhow::Result<()> {
    let (outlook_id, zoho_id) = &user.pairs[pair];
    let response = if from_outlook {
        http.patch(format!("{sandbox}/graph/v1.0/me/contacts/{outlook_id}"))
            .bearer_auth(&user.graph_token)
            .json(&json!({"jobTitle": marker}))
            .send()
            .await?
    } else {
        http.put(format!("{}/crm/v8/Contacts/{zoho_id}", user.zoho_api))
            .header(
                "Authorization",
                format!("Zoho-oauthtoken {}", user.zoho_token),
            )
            .json(&json!({"data": [{"Title": marker}]}))
            .send()
            .await?
    };
    anyhow::ensure!(
        response.status().is_success(),
        "the edit of {} was refused: {}",
        user.accounts.email,
        response.status()
    );
    Ok(())
}

//! Scenario 1, initial sync: one user whose two accounts are both filled (a share of the items on
//! both sides), connected at once; how long until both sides hold the union, with no duplicate,
//! how many API calls it took against the lower bound, and what each service cost.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::procs::{self, Usage};
use crate::progress::{Progress, step};
use crate::system::{Paths, System};

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub contacts: usize,
    pub tasks: usize,
    pub events: usize,
    pub shared_share: f64,
    pub poll_interval_secs: u32,
    pub timeout_secs: u64,
}

impl Config {
    pub fn full() -> Self {
        Config {
            contacts: 10_000,
            tasks: 2_000,
            events: 2_000,
            shared_share: 0.2,
            poll_interval_secs: 10,
            timeout_secs: 900,
        }
    }

    pub fn quick() -> Self {
        Config {
            contacts: 200,
            tasks: 40,
            events: 40,
            shared_share: 0.2,
            poll_interval_secs: 2,
            timeout_secs: 240,
        }
    }
}

/// One kind's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct KindResult {
    pub kind: String,
    pub seeded_outlook: u64,
    pub seeded_zoho: u64,
    pub seeded_shared: u64,
    /// The union if exactly the seeded shared items were paired.
    pub expected: u64,
    pub outlook_count: u64,
    pub zoho_count: u64,
    pub linked: i64,
    /// Items held for a person to decide (an ambiguous first-sync match), on either side.
    pub held_for_review: u64,
    /// Pairs found on both sides at the first sync (seeded on both: `seeded_shared`).
    pub matched_pairs: u64,
    pub pending: i64,
    pub failed: i64,
    /// Items whose key (contacts: primary e-mail; tasks: title; events: subject) another item
    /// on the same side has too, beyond those seeded so (must be 0).
    pub duplicates: u64,
    /// Linked or held items missing on their side.
    pub missing: u64,
    pub converged: bool,
    /// Seconds from connecting the user to this kind's convergence.
    pub converge_secs: Option<f64>,
    pub failed_examples: Vec<String>,
}

/// API calls of one side, measured and the lower bound.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SideCalls {
    /// HTTP requests sent to the API (a `$batch` is one).
    pub http_calls: u64,
    pub read_calls: u64,
    pub write_calls: u64,
    /// Graph only: requests carried inside `$batch` calls (Graph throttles each of them).
    pub batched_requests: u64,
    pub lower_bound_reads: u64,
    pub lower_bound_writes: u64,
    pub lower_bound: u64,
    /// `http_calls / lower_bound`.
    pub ratio: f64,
    /// Every operation as the sandbox labels it, with its count.
    pub operations: BTreeMap<String, u64>,
    /// Writes the system made: creates, updates and deletes of items (Graph: inside `$batch`).
    pub items_created: u64,
    pub items_updated: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Result {
    pub config: Config,
    /// Settled: every item linked on both sides or held for review, the sides consistent with
    /// sync-service's links, nothing in flight.
    pub converged: bool,
    /// Items held for a person to decide (ambiguous first-sync matches), all kinds.
    pub held_for_review: u64,
    pub converge_secs: Option<f64>,
    pub kinds: Vec<KindResult>,
    pub duplicates: u64,
    pub outlook_calls: SideCalls,
    pub zoho_calls: SideCalls,
    pub usage: BTreeMap<String, Usage>,
    pub notes: Vec<String>,
}

const KINDS: [(&str, &str, &str); 3] = [
    ("contact", "contacts", "Contacts"),
    ("task", "tasks", "Tasks"),
    ("event", "events", "Events"),
];

pub async fn run(paths: &Paths, config: &Config) -> anyhow::Result<Result> {
    step(&format!(
        "initial sync: {} contacts, {} tasks, {} events on each side ({} % on both)",
        config.contacts,
        config.tasks,
        config.events,
        config.shared_share * 100.0
    ));
    let mut system = System::start(paths, "initial-sync", &procs::ALL, &[]).await?;
    let outcome = measure(&mut system, config).await;
    system.stop().await;
    outcome
}

async fn measure(system: &mut System, config: &Config) -> anyhow::Result<Result> {
    let accounts = system.new_accounts("initial@bench.example").await?;
    let seeded = system
        .seed(
            &accounts,
            config.contacts,
            config.tasks,
            config.events,
            config.shared_share,
            42,
        )
        .await?;
    let number = |key: &str| seeded[key].as_u64().unwrap_or(0);
    let seeded_counts: BTreeMap<&str, (u64, u64, u64)> = [
        (
            "contact",
            (
                number("outlook_contacts"),
                number("zoho_contacts"),
                number("shared"),
            ),
        ),
        (
            "task",
            (
                number("outlook_tasks"),
                number("zoho_tasks"),
                number("shared_tasks"),
            ),
        ),
        (
            "event",
            (
                number("outlook_events"),
                number("zoho_events"),
                number("shared_events"),
            ),
        ),
    ]
    .into_iter()
    .collect();
    let expected = |kind: &str| {
        let (o, z, s) = seeded_counts[kind];
        o + z - s
    };
    let task_list = system.default_task_list(&accounts).await?;
    // Items sharing a key on one side before the sync (the seeder may make namesakes): the
    // duplicates are the collisions the sync adds to these.
    let mut baseline: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (kind, _, _) in KINDS {
        let (o, z) = side_counts(system, &accounts, kind).await?;
        baseline.insert(
            kind,
            (collisions(kind, true, &o), collisions(kind, false, &z)),
        );
    }
    let pool = service_kit::database::connect(&system.database, "sync").await?;
    let user_id = system.create_user(&accounts).await?;
    system.reset_stats().await?;
    let before = system.usage();

    // Connecting is putting the settings: from here the clock runs.
    let started = Instant::now();
    system
        .put_settings(
            &user_id,
            json!({
                "contact_folder_id": accounts.contact_folder_id,
                "contacts": {"enabled": config.contacts > 0, "direction": "two_way"},
                "task_list_id": task_list,
                "tasks": {"enabled": config.tasks > 0, "direction": "two_way"},
                "events": {"enabled": config.events > 0, "direction": "two_way"},
                "calendar_categories": {"mode": "all"},
                "conflict_rule": "zoho_wins",
                "poll_interval_secs": config.poll_interval_secs,
            }),
        )
        .await?;

    let enabled: Vec<&str> = KINDS
        .iter()
        .filter(|(kind, _, _)| seeded_counts[kind].0 + seeded_counts[kind].1 > 0)
        .map(|(kind, _, _)| *kind)
        .collect();
    let mut converged_at: BTreeMap<&str, f64> = BTreeMap::new();
    let mut progress = Progress::new();
    let deadline = started + Duration::from_secs(config.timeout_secs);
    let mut last_status;
    loop {
        let dead = system.dead();
        anyhow::ensure!(dead.is_empty(), "{dead:?} stopped during the run");
        let status = system.status(&user_id).await?;
        let mut line = Vec::new();
        for kind in &enabled {
            let k = kind_status(&status, kind);
            let linked = k["linked"].as_i64().unwrap_or(0);
            line.push(format!("{kind}s {linked}/{}", expected(kind)));
            if converged_at.contains_key(kind) || status["outbox_pending"] != 0 {
                continue;
            }
            // Done when sync-service finished the first sync and only holds what waits for a
            // person (ambiguous matches), and each side holds exactly the linked items plus its
            // held ones.
            let links = links_of(&pool, &user_id, kind).await?;
            // (Read from the tables, not the status API's `pending`, whose meaning moves.)
            if links.first_sync_done && links.linked == linked && links.other == 0 {
                let (o, z) = side_counts(system, &accounts, kind).await?;
                if o.len() as i64 == links.linked + links.held_outlook
                    && z.len() as i64 == links.linked + links.held_zoho
                {
                    converged_at.insert(kind, started.elapsed().as_secs_f64());
                }
            }
        }
        line.push(format!("outbox {}", status["outbox_pending"]));
        progress.show(&line.join(", "));
        last_status = status;
        if converged_at.len() == enabled.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let converge_secs = (converged_at.len() == enabled.len())
        .then(|| converged_at.values().copied().fold(0.0, f64::max));
    progress.done(&match converge_secs {
        Some(s) => format!("converged in {s:.1} s"),
        None => format!("NOT converged after {} s", config.timeout_secs),
    });
    // Stats and usage at convergence (or at the timeout), before anything else runs.
    let stats = system.stats().await?;
    let after = system.usage();
    let usage = after
        .iter()
        .map(|(name, u)| {
            let cpu_before = before.get(name).map_or(0.0, |b| b.cpu_secs);
            (
                name.clone(),
                Usage {
                    cpu_secs: u.cpu_secs - cpu_before,
                    ..*u
                },
            )
        })
        .collect();

    let mut kinds = Vec::new();
    for (kind, _, _) in KINDS {
        let (so, sz, ss) = seeded_counts[kind];
        let want = expected(kind);
        let k = kind_status(&last_status, kind);
        let links = links_of(&pool, &user_id, kind).await?;
        let (o, z) = side_counts(system, &accounts, kind).await?;
        let (base_o, base_z) = &baseline[kind];
        let duplicates = (collisions(kind, true, &o) - base_o).max(0)
            + (collisions(kind, false, &z) - base_z).max(0);
        let (o, z) = (o.len() as u64, z.len() as u64);
        let failed_examples = k["failed_items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .take(3)
                    .map(|i| format!("{}: {}", i["label"], i["reason"]))
                    .collect()
            })
            .unwrap_or_default();
        let held = (links.held_outlook + links.held_zoho) as u64;
        kinds.push(KindResult {
            kind: kind.to_owned(),
            seeded_outlook: so,
            seeded_zoho: sz,
            seeded_shared: ss,
            expected: want,
            outlook_count: o,
            zoho_count: z,
            linked: links.linked,
            held_for_review: held,
            // Every seeded item ends in a link or a hold; the rest were paired.
            matched_pairs: (so + sz).saturating_sub(links.linked as u64 + held),
            pending: k["pending"].as_i64().unwrap_or(0),
            failed: k["failed"].as_i64().unwrap_or(0),
            duplicates: duplicates as u64,
            missing: (links.linked as u64 + links.held_outlook as u64).saturating_sub(o)
                + (links.linked as u64 + links.held_zoho as u64).saturating_sub(z),
            converged: converged_at.contains_key(kind),
            converge_secs: converged_at.get(kind).copied(),
            failed_examples,
        });
    }
    pool.close().await;
    let graph_usage = &stats["graph"]["mailboxes"][&accounts.mailbox_id];
    let graph_ops = operations(graph_usage);
    let graph_in_batch = counts(&graph_usage["in_batch"]);
    let zoho_ops = operations(&stats["zoho"]["orgs"][&accounts.org_id]);
    let count = |kind: &str, f: fn(&(u64, u64, u64)) -> u64| f(&seeded_counts[kind]);
    // What each side must receive: the other side's items that are not on both.
    let to_outlook: Vec<u64> = KINDS
        .iter()
        .map(|(k, _, _)| count(k, |c| c.1 - c.2))
        .collect();
    let to_zoho: Vec<u64> = KINDS
        .iter()
        .map(|(k, _, _)| count(k, |c| c.0 - c.2))
        .collect();
    let outlook_held: Vec<u64> = KINDS.iter().map(|(k, _, _)| count(k, |c| c.0)).collect();
    let zoho_held: Vec<u64> = KINDS.iter().map(|(k, _, _)| count(k, |c| c.1)).collect();
    let outlook_calls = graph_calls(graph_ops, &graph_in_batch, &outlook_held, &to_outlook);
    let zoho_calls = zoho_calls(zoho_ops, &zoho_held, &to_zoho);
    let duplicates = kinds.iter().map(|k| k.duplicates).sum();
    let held_for_review = kinds.iter().map(|k| k.held_for_review).sum();
    let notes = vec![
        format!(
            "API calls counted from connecting the user to convergence, polls of the steady \
             state included (poll interval {} s).",
            config.poll_interval_secs
        ),
        "Lower bound: every item read once in pages of 200 (Graph delta pages of at most 200, \
         Zoho pages of 200), an empty first read where a side has none, the items the other side \
         lacks written in $batch calls of 20 (Graph) or calls of 100 records (Zoho); updates of \
         matched pairs whose other fields differ are not in the bound."
            .to_owned(),
    ];
    Ok(Result {
        config: config.clone(),
        converged: converge_secs.is_some(),
        converge_secs,
        held_for_review,
        kinds,
        duplicates,
        outlook_calls,
        zoho_calls,
        usage,
        notes,
    })
}

fn kind_status<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["kinds"]
        .as_array()
        .and_then(|kinds| kinds.iter().find(|k| k["kind"] == kind))
        .unwrap_or(&Value::Null)
}

/// Items of `kind` in the mailbox and in the Zoho org (control API). Outlook's listing of events
/// holds a series' exceptions too; they are part of their series, not items of their own.
async fn side_counts(
    system: &System,
    accounts: &crate::system::Accounts,
    kind: &str,
) -> anyhow::Result<(Vec<Value>, Vec<Value>)> {
    let (_, what, module) = KINDS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .copied()
        .unwrap_or(KINDS[0]);
    let mut outlook = system.outlook_items(accounts, what).await?;
    outlook.retain(|item| item["type"] != "exception");
    let zoho = system.zoho_records(accounts, module).await?;
    Ok((outlook, zoho))
}

/// An item's identity for counting duplicates on one side.
fn key(kind: &str, outlook: bool, item: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or_default().trim().to_lowercase();
    match (kind, outlook) {
        ("contact", true) => match s(&item["emailAddresses"][0]["address"]) {
            e if !e.is_empty() => e,
            _ => s(&item["displayName"]),
        },
        ("contact", false) => match s(&item["Email"]) {
            e if !e.is_empty() => e,
            _ => format!("{} {}", s(&item["First_Name"]), s(&item["Last_Name"])),
        },
        // Titles only: a pair the first sync failed to match because one side moved a date
        // would otherwise not count as the duplicate it is.
        ("task", true) => s(&item["title"]),
        ("task", false) => s(&item["Subject"]),
        ("event", true) => s(&item["subject"]),
        _ => s(&item["Event_Title"]),
    }
}

/// Items minus distinct keys.
fn collisions(kind: &str, outlook: bool, items: &[Value]) -> i64 {
    let distinct: std::collections::HashSet<String> =
        items.iter().map(|i| key(kind, outlook, i)).collect();
    items.len() as i64 - distinct.len() as i64
}

/// sync-service's links of one kind, read from its tables (the benchmark's own measurement;
/// no service reads them).
struct Links {
    first_sync_done: bool,
    linked: i64,
    held_outlook: i64,
    held_zoho: i64,
    /// Links neither linked, held nor deleted (waiting for something).
    other: i64,
}

async fn links_of(pool: &sqlx::PgPool, user_id: &str, kind: &str) -> anyhow::Result<Links> {
    let user = uuid::Uuid::parse_str(user_id)?;
    let (linked, held_outlook, held_zoho, other): (i64, i64, i64, i64) = sqlx::query_as(
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
    .bind(kind)
    .fetch_one(pool)
    .await?;
    let done: Option<(bool,)> = sqlx::query_as(
        "SELECT first_sync_done FROM kind_progress WHERE user_id = $1 AND kind = $2",
    )
    .bind(user)
    .bind(kind)
    .fetch_optional(pool)
    .await?;
    Ok(Links {
        first_sync_done: done.is_some_and(|d| d.0),
        linked,
        held_outlook,
        held_zoho,
        other,
    })
}

fn operations(usage: &Value) -> BTreeMap<String, u64> {
    counts(&usage["operations"])
}

/// An object of counts by operation, as the sandbox's stats give them.
fn counts(by_operation: &Value) -> BTreeMap<String, u64> {
    by_operation
        .as_object()
        .map(|ops| {
            ops.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

fn pages(items: u64, per_page: u64) -> u64 {
    items.div_ceil(per_page).max(1)
}

fn is_token_call(operation: &str) -> bool {
    operation.to_ascii_lowercase().contains("token")
}

/// Graph's HTTP calls from the sandbox's counts: `in_batch` are the requests carried inside
/// `$batch` calls (writes, and the reads by id of copies not yet listed, decision 91), which
/// Graph throttles one by one but which are not calls of their own.
fn graph_calls(
    ops: BTreeMap<String, u64>,
    in_batch: &BTreeMap<String, u64>,
    held: &[u64],
    to_write: &[u64],
) -> SideCalls {
    let mut calls = SideCalls::default();
    for (op, n) in &ops {
        if is_token_call(op) {
            continue;
        }
        let inside = in_batch.get(op).copied().unwrap_or(0).min(*n);
        calls.batched_requests += inside;
        if op.starts_with("POST ") && !op.contains("$batch") {
            calls.items_created += n;
        } else if op.starts_with("PATCH ") {
            calls.items_updated += n;
        }
        let alone = n - inside;
        if op.contains("$batch") {
            calls.write_calls += alone;
        } else if op.starts_with("GET ") {
            calls.read_calls += alone;
        } else {
            // A write made outside `$batch`: a call of its own.
            calls.write_calls += alone;
        }
    }
    calls.http_calls = calls.read_calls + calls.write_calls;
    calls.lower_bound_reads = held.iter().map(|n| pages(*n, 200)).sum();
    calls.lower_bound_writes = to_write.iter().map(|n| n.div_ceil(20)).sum();
    calls.lower_bound = calls.lower_bound_reads + calls.lower_bound_writes;
    calls.ratio = calls.http_calls as f64 / calls.lower_bound.max(1) as f64;
    calls.operations = ops;
    calls
}

fn zoho_calls(ops: BTreeMap<String, u64>, held: &[u64], to_write: &[u64]) -> SideCalls {
    let mut calls = SideCalls::default();
    for (op, n) in &ops {
        if is_token_call(op) {
            continue;
        }
        if op.starts_with("GET ") {
            calls.read_calls += n;
        } else {
            calls.write_calls += n;
        }
    }
    calls.http_calls = calls.read_calls + calls.write_calls;
    calls.lower_bound_reads = held.iter().map(|n| pages(*n, 200)).sum();
    calls.lower_bound_writes = to_write.iter().map(|n| n.div_ceil(100)).sum();
    calls.lower_bound = calls.lower_bound_reads + calls.lower_bound_writes;
    calls.ratio = calls.http_calls as f64 / calls.lower_bound.max(1) as f64;
    calls.operations = ops;
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(op, n)| (op.to_string(), *n)).collect()
    }

    #[test]
    fn requests_inside_batch_calls_are_not_calls_of_their_own() {
        let ops = counts(&[
            ("GET /me/contactFolders/{folder_id}/contacts/delta", 3),
            ("GET /me/contacts/{contact_id}", 42),
            ("POST /$batch", 5),
            ("POST /me/contactFolders/{folder_id}/contacts", 60),
            ("POST /oauth2/v2.0/token", 1),
        ]);
        // Two of the reads by id were made alone (a re-read after a refused update).
        let in_batch = counts(&[
            ("GET /me/contacts/{contact_id}", 40),
            ("POST /me/contactFolders/{folder_id}/contacts", 60),
        ]);
        let calls = graph_calls(ops, &in_batch, &[200], &[60]);
        assert_eq!(calls.read_calls, 3 + 2);
        assert_eq!(calls.write_calls, 5);
        assert_eq!(calls.http_calls, 10);
        assert_eq!(calls.batched_requests, 100);
        assert_eq!(calls.items_created, 60);
        assert_eq!(calls.lower_bound, 1 + 3);
    }

    #[test]
    fn writes_made_one_by_one_are_calls() {
        let ops = counts(&[
            ("POST /me/contacts", 4),
            ("PATCH /me/contacts/{contact_id}", 2),
        ]);
        let calls = graph_calls(ops, &BTreeMap::new(), &[1], &[6]);
        assert_eq!(calls.write_calls, 6);
        assert_eq!(calls.batched_requests, 0);
        assert_eq!((calls.items_created, calls.items_updated), (4, 2));
    }
}

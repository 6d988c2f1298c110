//! The report: JSON (everything), a Markdown summary with the targets, and an SVG plot of the
//! propagation latencies (written by hand: a few lines of SVG need no plotting crate).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::{engine, initial, steady};

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub memory_gib: f64,
    pub kernel: String,
    /// `release` or `debug`: the profile the services were built with.
    pub profile: String,
}

impl Machine {
    pub fn read(profile: &str) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            profile: profile.to_owned(),
        }
    }
}

/// One target of issue 8, measured.
#[derive(Debug, Serialize)]
pub struct Target {
    pub name: String,
    pub target: String,
    pub measured: String,
    /// `None` when this run cannot judge it (the scenario did not run, or ran smaller).
    pub met: Option<bool>,
    pub gap: String,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub date: String,
    pub mode: String,
    pub machine: Machine,
    pub initial_sync: Option<initial::Result>,
    pub steady_state: Option<steady::Result>,
    pub engine_throughput: Option<engine::Result>,
    /// Steady state with one user's changes failing (issue 14 point 9).
    pub poison: Option<steady::Result>,
    pub targets: Vec<Target>,
    /// Scenarios that failed, with the error.
    pub failures: Vec<String>,
}

impl Report {
    /// Whether every scenario that ran finished and converged (what CI checks; not the speed,
    /// and not the duplicates, which the report shows as a target).
    pub fn converged(&self) -> bool {
        self.failures.is_empty()
            && self.initial_sync.as_ref().is_none_or(|r| r.converged)
            && self
                .steady_state
                .as_ref()
                .is_none_or(|r| r.lost == 0 && r.users_synced == r.config.users)
            && self.engine_throughput.as_ref().is_none_or(|r| r.completed)
            && self
                .poison
                .as_ref()
                .is_none_or(|r| r.lost == 0 && r.users_synced == r.config.users)
    }

    pub fn judge(&mut self, full_size: bool) {
        let mut targets = Vec::new();
        if let Some(r) = &self.initial_sync {
            let default_size =
                r.config.contacts == 10_000 && r.config.tasks == 2_000 && r.config.events == 2_000;
            let complete = r.held_for_review == 0 && r.duplicates == 0;
            let (measured, met, gap) = match r.converge_secs {
                Some(s) => (
                    if complete {
                        format!("{s:.1} s")
                    } else {
                        format!(
                            "settled in {s:.1} s, with {} items held for review",
                            r.held_for_review
                        )
                    },
                    Some(s < 60.0 && complete),
                    if !complete {
                        format!(
                            "not complete: {} items held for review, {} duplicates",
                            r.held_for_review, r.duplicates
                        )
                    } else if s < 60.0 {
                        format!("{:.1} s to spare", 60.0 - s)
                    } else {
                        format!("{:.1} s over ({:.1}×)", s - 60.0, s / 60.0)
                    },
                ),
                None => (
                    format!("did not settle in {} s", r.config.timeout_secs),
                    Some(false),
                    "no convergence".into(),
                ),
            };
            targets.push(Target {
                name: "initial sync time".into(),
                target: "under 60 s (default size, 2 cores)".into(),
                measured,
                met: if default_size { met } else { None },
                gap: if default_size {
                    gap
                } else {
                    format!("{gap}; not the default size, so not judged")
                },
            });
            targets.push(Target {
                name: "initial sync complete".into(),
                target: "every item on both sides: none held, none duplicated".into(),
                measured: format!(
                    "{} held for review, {} duplicates",
                    r.held_for_review, r.duplicates
                ),
                met: Some(complete && r.converged),
                gap: if complete {
                    "met".into()
                } else {
                    format!("{} items not synced", r.held_for_review + r.duplicates)
                },
            });
            for (side, calls) in [("Graph", &r.outlook_calls), ("Zoho", &r.zoho_calls)] {
                targets.push(Target {
                    name: format!("{side} API calls"),
                    target: "within 1.1× the lower bound".into(),
                    measured: format!(
                        "{} calls vs bound {} ({:.2}×)",
                        calls.http_calls, calls.lower_bound, calls.ratio
                    ),
                    met: Some(calls.ratio <= 1.1),
                    gap: if calls.ratio <= 1.1 {
                        "met".into()
                    } else {
                        format!(
                            "{} calls over 1.1× ({:.2}× the bound)",
                            calls.http_calls as f64 - (calls.lower_bound as f64 * 1.1).floor(),
                            calls.ratio
                        )
                    },
                });
            }
            targets.push(Target {
                name: "duplicates".into(),
                target: "0".into(),
                measured: r.duplicates.to_string(),
                met: Some(r.duplicates == 0),
                gap: if r.duplicates == 0 {
                    "met".into()
                } else {
                    format!("{} duplicates", r.duplicates)
                },
            });
        }
        if let Some(r) = &self.steady_state {
            let limit_ms = (f64::from(r.config.poll_interval_secs) + 2.0) * 1000.0;
            let p99 = r.all.p99_ms;
            targets.push(Target {
                name: "p99 propagation".into(),
                target: format!("under poll interval + 2 s = {:.0} s", limit_ms / 1000.0),
                measured: format!(
                    "{:.2} s ({} users, {} edits, {} not arrived)",
                    p99 / 1000.0,
                    r.users_synced,
                    r.edits,
                    r.lost
                ),
                met: Some(p99 < limit_ms && r.lost == 0),
                gap: if p99 < limit_ms {
                    format!("{:.2} s to spare", (limit_ms - p99) / 1000.0)
                } else {
                    format!("{:.2} s over", (p99 - limit_ms) / 1000.0)
                },
            });
            let services: Vec<(&String, &crate::procs::Usage)> = r
                .idle_usage
                .iter()
                .filter(|(name, _)| name.as_str() != crate::procs::SANDBOX)
                .collect();
            let worst = services
                .iter()
                .max_by(|a, b| a.1.rss_mib.total_cmp(&b.1.rss_mib));
            if let Some((name, usage)) = worst {
                let met = services.iter().all(|(_, u)| u.rss_mib < 100.0);
                targets.push(Target {
                    name: "memory, idle users".into(),
                    target: "each service under 100 MB with 500 idle users".into(),
                    measured: format!(
                        "largest: {name} {:.1} MiB resident ({:.1} MiB peak), {} users",
                        usage.rss_mib, usage.peak_rss_mib, r.users_synced
                    ),
                    met: (r.users_synced >= 500).then_some(met),
                    gap: if met {
                        format!("{:.1} MiB to spare", 100.0 - usage.rss_mib)
                    } else {
                        format!("{:.1} MiB over", usage.rss_mib - 100.0)
                    } + if r.users_synced >= 500 {
                        ""
                    } else {
                        "; fewer than 500 users, so not judged"
                    },
                });
            }
        }
        if let Some(r) = &self.engine_throughput {
            let share = r.share_of_batched_floor * 100.0;
            targets.push(Target {
                name: "engine throughput".into(),
                target: "sync-service at 50 % or more of the batched floor".into(),
                measured: format!(
                    "{:.0} vs batched floor {:.0} events/s ({share:.0} %; {:.0} % of the one-by-one floor, {:.0})",
                    r.sync_events_per_sec,
                    r.batched_floor_events_per_sec,
                    r.share_of_floor * 100.0,
                    r.floor_events_per_sec
                ),
                met: Some(share >= 50.0 && r.completed),
                gap: if share >= 50.0 {
                    format!("{:.0} points to spare", share - 50.0)
                } else {
                    format!("{:.0} points short", 50.0 - share)
                },
            });
            if let Some(two) = &r.two_replicas {
                let total: f64 = two.decided.values().sum();
                let least = two.decided.values().copied().fold(f64::INFINITY, f64::min);
                let shares = two
                    .decided
                    .iter()
                    .map(|(name, n)| format!("{name} {:.0} %", n / total.max(1.0) * 100.0))
                    .collect::<Vec<_>>()
                    .join(", ");
                targets.push(Target {
                    name: "two replicas".into(),
                    target: "with 2 replicas, both handle a share".into(),
                    measured: format!("{:.0} events/s; {shares}", two.events_per_sec),
                    met: Some(two.completed && two.decided.len() == 2 && least > 0.0),
                    gap: format!(
                        "{:.2}× the one replica's rate",
                        two.events_per_sec / r.sync_events_per_sec.max(f64::MIN_POSITIVE)
                    ),
                });
            }
        }
        if let Some(r) = &self.poison {
            let limit_ms = (f64::from(r.config.poll_interval_secs) + 2.0) * 1000.0;
            let p99 = r.all.p99_ms;
            let state = r
                .poisoned
                .as_ref()
                .and_then(|p| p.held["state"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "not held".into());
            targets.push(Target {
                name: "p99 propagation, one user poisoned".into(),
                target: format!(
                    "the other users under poll interval + 2 s = {:.0} s",
                    limit_ms / 1000.0
                ),
                measured: format!(
                    "{:.2} s ({} other users' edits, {} not arrived); the poisoned user: {state}",
                    p99 / 1000.0,
                    r.edits,
                    r.lost
                ),
                met: Some(p99 < limit_ms && r.lost == 0 && state != "not held"),
                gap: if p99 < limit_ms {
                    format!("{:.2} s to spare", (limit_ms - p99) / 1000.0)
                } else {
                    format!("{:.2} s over", (p99 - limit_ms) / 1000.0)
                },
            });
        }
        if !full_size {
            for t in &mut targets {
                if t.met.is_some() && t.name != "duplicates" && t.name != "initial sync complete" {
                    t.gap = format!("{} (quick run: indicative only)", t.gap);
                }
            }
        }
        self.targets = targets;
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(self)?)?;
        std::fs::write(dir.join("report.md"), self.markdown())?;
        if let Some(r) = &self.steady_state {
            std::fs::write(dir.join("latency.svg"), latency_svg(r))?;
        }
        Ok(())
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(
            md,
            "# Benchmark report\n\n{} · {} mode · {} build · {} cores ({}) · {:.0} GiB · Linux {}\n",
            self.date, self.mode, m.profile, m.cores, m.cpu, m.memory_gib, m.kernel
        );
        let _ = writeln!(md, "## Targets\n");
        let _ = writeln!(md, "| target | goal | measured | met | gap |");
        let _ = writeln!(md, "|---|---|---|---|---|");
        for t in &self.targets {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not judged",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {met} | {} |",
                t.name, t.target, t.measured, t.gap
            );
        }
        if let Some(r) = &self.initial_sync {
            let _ = writeln!(
                md,
                "\n## Initial sync\n\n{} contacts, {} tasks, {} events on each side, {:.0} % of \
                 them on both; poll interval {} s. Settled (every item linked or held for \
                 review, nothing in flight): {}.\n",
                r.config.contacts,
                r.config.tasks,
                r.config.events,
                r.config.shared_share * 100.0,
                r.config.poll_interval_secs,
                match r.converge_secs {
                    Some(s) => format!("**{s:.1} s**"),
                    None => "**no**".into(),
                }
            );
            let _ = writeln!(
                md,
                "| kind | seeded Outlook / Zoho / both | pairs matched | linked | held for review | \
                 Outlook | Zoho | failed | duplicates | missing | converged |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
            for k in &r.kinds {
                let converged = match (k.converged, k.converge_secs) {
                    (true, Some(s)) => format!("{s:.1} s"),
                    _ if k.seeded_outlook + k.seeded_zoho == 0 => "not seeded".into(),
                    _ => "**not converged**".into(),
                };
                let _ = writeln!(
                    md,
                    "| {} | {} / {} / {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    k.kind,
                    k.seeded_outlook,
                    k.seeded_zoho,
                    k.seeded_shared,
                    k.matched_pairs,
                    k.linked,
                    k.held_for_review,
                    k.outlook_count,
                    k.zoho_count,
                    k.failed,
                    k.duplicates,
                    k.missing,
                    converged
                );
            }
            for k in &r.kinds {
                for example in &k.failed_examples {
                    let _ = writeln!(md, "\n- failed {}: {example}", k.kind);
                }
            }
            let _ = writeln!(
                md,
                "\n| API | calls | reads | writes | lower bound (reads + writes) | ratio | \
                 requests inside $batch |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|---|---|");
            for (side, c) in [("Graph", &r.outlook_calls), ("Zoho", &r.zoho_calls)] {
                let _ = writeln!(
                    md,
                    "| {side} | {} | {} | {} | {} ({} + {}) | {:.2}× | {} |",
                    c.http_calls,
                    c.read_calls,
                    c.write_calls,
                    c.lower_bound,
                    c.lower_bound_reads,
                    c.lower_bound_writes,
                    c.ratio,
                    if side == "Graph" {
                        c.batched_requests.to_string()
                    } else {
                        "–".into()
                    }
                );
            }
            let _ = writeln!(md, "\n| service | peak memory (VmHWM) | CPU seconds |");
            let _ = writeln!(md, "|---|---|---|");
            for (name, u) in &r.usage {
                let _ = writeln!(
                    md,
                    "| {name}{} | {:.1} MiB | {:.1} |",
                    if name == crate::procs::SANDBOX {
                        " (emulator)"
                    } else {
                        ""
                    },
                    u.peak_rss_mib,
                    u.cpu_secs
                );
            }
            for note in &r.notes {
                let _ = writeln!(md, "\n{note}");
            }
            let _ = writeln!(md, "\nCalls by operation:\n");
            for (side, c) in [("Graph", &r.outlook_calls), ("Zoho", &r.zoho_calls)] {
                let ops: Vec<String> = c
                    .operations
                    .iter()
                    .map(|(op, n)| format!("`{op}` {n}"))
                    .collect();
                let _ = writeln!(md, "- {side}: {}", ops.join(", "));
            }
        }
        if let Some(r) = &self.steady_state {
            let _ = writeln!(
                md,
                "\n## Steady state\n\n{} users ({} finished the first sync in {:.1} s) with {} \
                 contacts each; {} edits at {} per second, alternating sides, each on a contact \
                 not edited before; poll interval {} s; arrival checked every {} ms.\n",
                r.config.users,
                r.users_synced,
                r.setup_secs,
                r.config.items_per_user,
                r.edits,
                r.config.edits_per_sec,
                r.config.poll_interval_secs,
                r.check_every_ms
            );
            let _ = writeln!(md, "| direction | edits arrived | p50 | p95 | p99 | max |");
            let _ = writeln!(md, "|---|---|---|---|---|---|");
            for (name, p) in [
                ("both", &r.all),
                ("Outlook → Zoho", &r.outlook_to_zoho),
                ("Zoho → Outlook", &r.zoho_to_outlook),
            ] {
                let _ = writeln!(
                    md,
                    "| {name} | {} | {:.2} s | {:.2} s | {:.2} s | {:.2} s |",
                    p.count,
                    p.p50_ms / 1000.0,
                    p.p95_ms / 1000.0,
                    p.p99_ms / 1000.0,
                    p.max_ms / 1000.0
                );
            }
            let _ = writeln!(md, "\nNot arrived: {}. Plot: `latency.svg`.\n", r.lost);
            let _ = writeln!(
                md,
                "| service | idle resident memory | peak memory | CPU seconds during the edits |"
            );
            let _ = writeln!(md, "|---|---|---|---|");
            for (name, u) in &r.idle_usage {
                let _ = writeln!(
                    md,
                    "| {name}{} | {:.1} MiB | {:.1} MiB | {:.1} |",
                    if name == crate::procs::SANDBOX {
                        " (emulator)"
                    } else {
                        ""
                    },
                    u.rss_mib,
                    u.peak_rss_mib,
                    r.edit_cpu_secs.get(name).copied().unwrap_or(0.0)
                );
            }
        }
        if let Some(r) = &self.engine_throughput {
            let _ = writeln!(
                md,
                "\n## Engine throughput\n\n{} change events (new Outlook contacts) for {} users \
                 published into RabbitMQ, for each consumer. The floor: prefetch {}, one delivery \
                 at a time, one upsert each. The batched floor: prefetch {}, batches of what has \
                 arrived (up to {}), one multi-row upsert per batch. The design floor: the same \
                 batches, each in one transaction writing what the design asks of any engine per \
                 event (an inbox row, a link with its merge base, an outbox row with the create \
                 command), and a relay publishing the commands with confirms; it decides nothing. \
                 sync-service: its default batches and prefetch per partition \
                 (`SYNC_SERVICE_BATCH_MAX`), each user's messages of a batch in one transaction, \
                 its item messages set-wise.\n",
                r.config.events, r.config.users, r.prefetch, r.batched_prefetch, r.batched_max,
            );
            let _ = writeln!(
                md,
                "| consumer | events/s | seconds | of the floor | of the batched floor | of the design floor |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|---|");
            let _ = writeln!(
                md,
                "| floor (one upsert per event) | {:.0} | {:.2} | | | |",
                r.floor_events_per_sec, r.floor_secs
            );
            let _ = writeln!(
                md,
                "| batched floor (one upsert per batch) | {:.0} | {:.2} | | | |",
                r.batched_floor_events_per_sec, r.batched_floor_secs
            );
            let design = r.design_floor_events_per_sec;
            let _ = writeln!(
                md,
                "| design floor (inbox, link, outbox per event; relay) | {:.0} | {:.2} | {:.0} % | {:.0} % | |",
                design,
                r.design_floor_secs,
                design / r.floor_events_per_sec.max(f64::MIN_POSITIVE) * 100.0,
                design / r.batched_floor_events_per_sec.max(f64::MIN_POSITIVE) * 100.0
            );
            let _ = writeln!(
                md,
                "| sync-service, 1 replica | {:.0} | {:.2} | {:.0} % | {:.0} % | {:.0} % |",
                r.sync_events_per_sec,
                r.sync_secs,
                r.share_of_floor * 100.0,
                r.share_of_batched_floor * 100.0,
                r.share_of_design_floor * 100.0
            );
            if let Some(two) = &r.two_replicas {
                let _ = writeln!(
                    md,
                    "| sync-service, 2 replicas | {:.0} | {:.2} | {:.0} % | {:.0} % | {:.0} % |",
                    two.events_per_sec,
                    two.secs,
                    two.share_of_floor * 100.0,
                    two.share_of_batched_floor * 100.0,
                    two.events_per_sec / design.max(f64::MIN_POSITIVE) * 100.0
                );
                let shares = two
                    .decided
                    .iter()
                    .map(|(name, n)| {
                        format!(
                            "{name} decided {n:.0} messages with {:.1} CPU seconds",
                            two.cpu_secs.get(name).copied().unwrap_or(0.0)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let _ = writeln!(md, "\nWith two replicas: {shares}.");
            }
            let _ = writeln!(
                md,
                "\nWith one replica, the commands it decided were all published after {} (the \
                 design floor's after {}); it used {:.1} CPU seconds, peak memory {:.1} MiB.",
                r.sync_with_commands_secs
                    .map_or("(not within 60 s)".into(), |s| format!("{s:.2} s")),
                r.design_floor_with_commands_secs
                    .map_or("(not within 60 s)".into(), |s| format!("{s:.2} s")),
                r.sync_service_cpu_secs,
                r.sync_service_usage.peak_rss_mib
            );
        }
        if let Some(r) = &self.poison {
            let _ = writeln!(
                md,
                "\n## Poison\n\n{} users ({} finished the first sync in {:.1} s) with {} \
                 contacts each, poll interval {} s; then every write of one user's links fails \
                 in Postgres (a trigger) while edits go on at {} per second for {} s, every \
                 fourth to that user. The latencies are the other users' edits.\n",
                r.config.users,
                r.users_synced,
                r.setup_secs,
                r.config.items_per_user,
                r.config.poll_interval_secs,
                r.config.edits_per_sec,
                r.config.edit_secs
            );
            let _ = writeln!(md, "| direction | edits arrived | p50 | p95 | p99 | max |");
            let _ = writeln!(md, "|---|---|---|---|---|---|");
            for (name, p) in [
                ("both", &r.all),
                ("Outlook → Zoho", &r.outlook_to_zoho),
                ("Zoho → Outlook", &r.zoho_to_outlook),
            ] {
                let _ = writeln!(
                    md,
                    "| {name} | {} | {:.2} s | {:.2} s | {:.2} s | {:.2} s |",
                    p.count,
                    p.p50_ms / 1000.0,
                    p.p95_ms / 1000.0,
                    p.p99_ms / 1000.0,
                    p.max_ms / 1000.0
                );
            }
            if let Some(p) = &r.poisoned {
                let _ = writeln!(
                    md,
                    "\nThe poisoned user ({} edits): status `held` = `{}`.",
                    p.edits, p.held
                );
            }
        }
        if !self.failures.is_empty() {
            let _ = writeln!(md, "\n## Failures\n");
            for f in &self.failures {
                let _ = writeln!(md, "- {f}");
            }
        }
        md
    }
}

/// The cumulative distribution of the latencies per direction, with the target as a line.
pub fn latency_svg(r: &steady::Result) -> String {
    const W: f64 = 720.0;
    const H: f64 = 420.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 50.0;
    let target_s = f64::from(r.config.poll_interval_secs) + 2.0;
    let max_s = r
        .samples
        .iter()
        .map(|s| s.latency_ms / 1000.0)
        .fold(target_s + 1.0, f64::max)
        .ceil()
        .max(1.0);
    let x = |s: f64| LEFT + s / max_s * (W - LEFT - RIGHT);
    let y = |share: f64| TOP + (1.0 - share) * (H - TOP - BOTTOM);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{W}" height="{H}" fill="white"/><text x="{}" y="22" font-size="15" text-anchor="middle">Propagation latency, cumulative ({} users, {} edits)</text>"#,
        W / 2.0,
        r.users_synced,
        r.all.count
    );
    // Axes and grid.
    let step = if max_s > 20.0 { 5.0 } else { 1.0 };
    let mut t = 0.0;
    while t <= max_s + 1e-9 {
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1:.1}" stroke="#eee"/><text x="{0:.1}" y="{2:.1}" text-anchor="middle">{t}</text>"##,
            x(t),
            H - BOTTOM,
            H - BOTTOM + 16.0
        );
        t += step;
    }
    for share in [0.0, 0.25, 0.5, 0.75, 0.95, 1.0] {
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#eee"/><text x="{2:.1}" y="{3:.1}" text-anchor="end">{4:.0} %</text>"##,
            y(share),
            W - RIGHT,
            LEFT - 6.0,
            y(share) + 4.0,
            share * 100.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{1:.1}" x2="{0:.1}" y2="{1:.1}" stroke="#333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{1:.1}" stroke="#333"/><text x="{2:.1}" y="{3:.1}" text-anchor="middle">seconds from the edit to its arrival on the other side</text>"##,
        W - RIGHT,
        H - BOTTOM,
        (LEFT + W - RIGHT) / 2.0,
        H - 12.0
    );
    // The target.
    let _ = writeln!(
        svg,
        r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1:.1}" stroke="#c00" stroke-dasharray="5,4"/><text x="{2:.1}" y="{3:.1}" fill="#c00" text-anchor="end">p99 target: poll interval + 2 s = {target_s} s</text>"##,
        x(target_s),
        H - BOTTOM,
        x(target_s) - 4.0,
        TOP - 4.0
    );
    // One step curve per direction.
    let mut legend_y = TOP + 14.0;
    for (direction, label, color) in [
        ("outlook_to_zoho", "Outlook → Zoho", "#1f77b4"),
        ("zoho_to_outlook", "Zoho → Outlook", "#ff7f0e"),
    ] {
        let mut latencies: Vec<f64> = r
            .samples
            .iter()
            .filter(|s| s.direction == direction)
            .map(|s| s.latency_ms / 1000.0)
            .collect();
        if latencies.is_empty() {
            continue;
        }
        latencies.sort_by(f64::total_cmp);
        let n = latencies.len() as f64;
        let mut points = format!("{:.1},{:.1}", x(0.0), y(0.0));
        for (i, l) in latencies.iter().enumerate() {
            let _ = write!(
                points,
                " {:.1},{:.1} {:.1},{:.1}",
                x(*l),
                y(i as f64 / n),
                x(*l),
                y((i + 1) as f64 / n)
            );
        }
        let _ = write!(points, " {:.1},{:.1}", x(max_s), y(1.0));
        let _ = writeln!(
            svg,
            r#"<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>"#
        );
        let _ = writeln!(
            svg,
            r#"<line x1="{0:.1}" y1="{1:.1}" x2="{2:.1}" y2="{1:.1}" stroke="{color}" stroke-width="3"/><text x="{3:.1}" y="{4:.1}">{label} ({5} edits)</text>"#,
            LEFT + 14.0,
            legend_y,
            LEFT + 34.0,
            LEFT + 40.0,
            legend_y + 4.0,
            latencies.len()
        );
        legend_y += 18.0;
    }
    svg.push_str("</svg>\n");
    svg
}

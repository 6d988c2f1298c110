//! The benchmark: `bench <initial-sync|steady-state|engine-throughput|poison|all> [--quick]`.
//!
//! - `procs`, `system`, `progress` (from the `harness` crate, shared with the crash test): the
//!   services as OS processes and their memory and CPU from `/proc`; a fresh database, broker
//!   prefix and the processes; the control and internal APIs the scenarios call;
//! - [`initial`], [`steady`] (also the poison scenario), [`engine`]: the four scenarios;
//! - [`report`]: JSON, Markdown and the SVG latency plot.
#![doc = include_str!("../README.md")]

mod design_floor;
mod engine;
mod initial;
mod report;
mod steady;

use harness::{procs, progress, system};

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::system::Paths;

const USAGE: &str = "\
usage: bench <initial-sync|steady-state|engine-throughput|poison|all> [options]

options:
  --quick            small sizes, under a minute in all (CI's smoke test)
  --out DIR          where the report goes (default: target/bench)
  --bin-dir DIR      where the service binaries are (default: this executable's directory)
  --no-build         do not run `cargo build` for the service binaries first
  --contacts N --tasks N --events N     initial-sync sizes per side
  --users N --items N --rate EDITS_PER_S --edit-secs S --poll-secs S   steady-state settings
  --engine-events N --engine-users N    engine-throughput sizes
";

struct Options {
    scenarios: Vec<String>,
    quick: bool,
    out: Option<PathBuf>,
    bin_dir: Option<PathBuf>,
    build: bool,
    initial: initial::Config,
    steady: steady::Config,
    engine: engine::Config,
    poison: steady::Config,
    full_size: bool,
}

fn parse() -> anyhow::Result<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") || args.is_empty() {
        eprint!("{USAGE}");
        std::process::exit(if args.is_empty() { 2 } else { 0 });
    }
    let quick = args.iter().any(|a| a == "--quick");
    let mut o = Options {
        scenarios: Vec::new(),
        quick,
        out: None,
        bin_dir: None,
        build: true,
        initial: if quick {
            initial::Config::quick()
        } else {
            initial::Config::full()
        },
        steady: if quick {
            steady::Config::quick()
        } else {
            steady::Config::full()
        },
        engine: if quick {
            engine::Config::quick()
        } else {
            engine::Config::full()
        },
        poison: if quick {
            steady::Config::poison_quick()
        } else {
            steady::Config::poison()
        },
        full_size: !quick,
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> anyhow::Result<String> {
            it.next().with_context(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--quick" => {}
            "--no-build" => o.build = false,
            "--out" => o.out = Some(value("--out")?.into()),
            "--bin-dir" => o.bin_dir = Some(value("--bin-dir")?.into()),
            "--contacts" => o.initial.contacts = value(&arg)?.parse()?,
            "--tasks" => o.initial.tasks = value(&arg)?.parse()?,
            "--events" => o.initial.events = value(&arg)?.parse()?,
            "--users" => o.steady.users = value(&arg)?.parse()?,
            "--items" => o.steady.items_per_user = value(&arg)?.parse()?,
            "--rate" => o.steady.edits_per_sec = value(&arg)?.parse()?,
            "--edit-secs" => o.steady.edit_secs = value(&arg)?.parse()?,
            "--poll-secs" => o.steady.poll_interval_secs = value(&arg)?.parse()?,
            "--engine-events" => o.engine.events = value(&arg)?.parse()?,
            "--engine-users" => o.engine.users = value(&arg)?.parse()?,
            "initial-sync" | "steady-state" | "engine-throughput" | "poison" => {
                o.scenarios.push(arg)
            }
            "all" => o.scenarios.extend(
                [
                    "initial-sync",
                    "steady-state",
                    "engine-throughput",
                    "poison",
                ]
                .map(str::to_owned),
            ),
            other => anyhow::bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    anyhow::ensure!(!o.scenarios.is_empty(), "name a scenario\n{USAGE}");
    Ok(o)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = parse()?;
    let bin_dir = match options.bin_dir.clone() {
        Some(dir) => dir,
        None => system::default_bin_dir()?,
    };
    let out_dir = options
        .out
        .clone()
        .unwrap_or_else(|| system::default_out_dir(&bin_dir));
    if options.build {
        system::build_services(&bin_dir)?;
    }
    let profile = if bin_dir.ends_with("release") {
        "release"
    } else {
        "debug"
    };
    let paths = Paths {
        bin_dir,
        out_dir: out_dir.clone(),
    };
    std::fs::create_dir_all(&out_dir)?;
    let started = Instant::now();
    let mut report = report::Report {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        mode: if options.quick { "quick" } else { "full" }.into(),
        machine: report::Machine::read(profile),
        initial_sync: None,
        steady_state: None,
        engine_throughput: None,
        poison: None,
        targets: Vec::new(),
        failures: Vec::new(),
    };
    for scenario in &options.scenarios {
        let outcome = match scenario.as_str() {
            "initial-sync" => initial::run(&paths, &options.initial)
                .await
                .map(|r| report.initial_sync = Some(r)),
            "steady-state" => steady::run(&paths, &options.steady)
                .await
                .map(|r| report.steady_state = Some(r)),
            "poison" => steady::run(&paths, &options.poison)
                .await
                .map(|r| report.poison = Some(r)),
            _ => engine::run(&paths, &options.engine)
                .await
                .map(|r| report.engine_throughput = Some(r)),
        };
        if let Err(err) = outcome {
            eprintln!("{scenario} failed: {err:#}");
            report.failures.push(format!("{scenario}: {err:#}"));
        }
    }
    report.judge(options.full_size);
    report.write(&out_dir)?;
    println!("{}", report.markdown());
    eprintln!(
        "Report written to {} (report.md, report.json{}) in {:.0} s.",
        out_dir.display(),
        if report.steady_state.is_some() {
            ", latency.svg"
        } else {
            ""
        },
        started.elapsed().as_secs_f64()
    );
    anyhow::ensure!(
        report.converged(),
        "the run did not complete or did not converge (see the report)"
    );
    Ok(())
}

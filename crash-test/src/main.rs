//! `crash-test [--runs N] [--seed S] [--short] [--restart-servers] ...`: runs the crash test
//! (see the crate's README) and prints each run's figures; exits non-zero when a run lost,
//! duplicated, missed an edit or a delete, or did not settle.

use std::path::PathBuf;

use anyhow::Context;
use crash_test::{Config, RunReport};
use harness::system::{self, Paths};

const USAGE: &str = "\
usage: crash-test [options]

options:
  --runs N             runs, each with its own seed (default 1)
  --seed S             the first run's seed (default: random); run i uses S + i
  --short              the test suite's sizes (120 contacts, 30 tasks, 30 events per side)
  --contacts N --tasks N --events N   items seeded per side (default 2000, 300, 300)
  --chaos-secs S       how long the workload and the faults run
  --restart-servers    restart the machine's RabbitMQ (rabbitmqctl stop_app/start_app) and
                       Postgres (pg_ctlcluster ... restart) instead of cutting this run's
                       proxies: disturbs everything else using them
  --calm              no faults: the workload and the first sync only (the oracle's control run)
  --out DIR            where the reports go (default: target/crash-test)
  --bin-dir DIR        where the service binaries are (default: this executable's directory)
  --no-build           do not run `cargo build` for the service binaries first
";

struct Options {
    runs: u64,
    seed: u64,
    config: Config,
    out: Option<PathBuf>,
    bin_dir: Option<PathBuf>,
    build: bool,
}

fn parse() -> anyhow::Result<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        std::process::exit(0);
    }
    let mut o = Options {
        runs: 1,
        seed: rand::random::<u32>() as u64,
        config: if args.iter().any(|a| a == "--short") {
            Config::short()
        } else {
            Config::long()
        },
        out: None,
        bin_dir: None,
        build: true,
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> anyhow::Result<String> {
            it.next().with_context(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--short" => {}
            "--runs" => o.runs = value(&arg)?.parse()?,
            "--seed" => o.seed = value(&arg)?.parse()?,
            "--contacts" => o.config.contacts = value(&arg)?.parse()?,
            "--tasks" => o.config.tasks = value(&arg)?.parse()?,
            "--events" => o.config.events = value(&arg)?.parse()?,
            "--chaos-secs" => o.config.chaos_secs = value(&arg)?.parse()?,
            "--restart-servers" => o.config.chaos.restart_servers = true,
            "--calm" => o.config.chaos.calm = true,
            "--out" => o.out = Some(value(&arg)?.into()),
            "--bin-dir" => o.bin_dir = Some(value(&arg)?.into()),
            "--no-build" => o.build = false,
            other => anyhow::bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = parse()?;
    let bin_dir = match options.bin_dir.clone() {
        Some(dir) => dir,
        None => system::default_bin_dir()?,
    };
    let out_dir = options.out.clone().unwrap_or_else(|| {
        bin_dir
            .parent()
            .map(|target| target.join("crash-test"))
            .unwrap_or_else(|| PathBuf::from("target/crash-test"))
    });
    if options.build {
        system::build_services(&bin_dir)?;
    }
    std::fs::create_dir_all(&out_dir)?;
    let paths = Paths {
        bin_dir,
        out_dir: out_dir.clone(),
    };
    if options.config.chaos.restart_servers {
        eprintln!(
            "WARNING: --restart-servers restarts this machine's RabbitMQ and Postgres during \
             each run; anything else using them (other tests, other people's runs) sees the \
             outages too."
        );
    }
    let mut reports: Vec<RunReport> = Vec::new();
    let mut failures = Vec::new();
    for i in 0..options.runs {
        let seed = options.seed + i;
        eprintln!("==> run {} of {} (seed {seed})", i + 1, options.runs);
        match crash_test::run(&paths, &options.config, seed).await {
            Ok(report) => {
                println!("{}", report.line());
                for example in report.verdict.examples.iter().take(10) {
                    println!("    {example}");
                }
                for error in &report.workload_errors {
                    println!("    workload error: {error}");
                }
                std::fs::write(
                    out_dir.join(format!("run-{seed}.json")),
                    serde_json::to_string_pretty(&report)?,
                )?;
                reports.push(report);
            }
            Err(err) => {
                println!("seed {seed}: the run failed: {err:#}");
                failures.push(seed);
            }
        }
    }
    let sum = |f: fn(&RunReport) -> u64| reports.iter().map(f).sum::<u64>();
    println!(
        "{} run(s): lost {}, duplicated {}, stale {}, resurrected {}, unexpected {}, unlinked {}, \
         recreated {}; {} with a problem, {} not settled, {} failed to run; reports in {}",
        options.runs,
        sum(|r| r.verdict.total.lost),
        sum(|r| r.verdict.total.duplicated),
        sum(|r| r.verdict.total.stale),
        sum(|r| r.verdict.total.resurrected),
        sum(|r| r.verdict.total.unexpected),
        sum(|r| r.verdict.total.unlinked),
        sum(|r| r.verdict.total.recreated),
        reports.iter().filter(|r| !r.verdict.total.clean()).count(),
        reports.iter().filter(|r| !r.settled).count(),
        failures.len(),
        out_dir.display()
    );
    anyhow::ensure!(
        failures.is_empty() && reports.iter().all(RunReport::passed),
        "the crash test found problems"
    );
    Ok(())
}

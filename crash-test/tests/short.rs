//! The suite's short crash test: a few hundred items, a few kills, one broker and one database
//! outage of this run's own (its proxies cut), a couple of minutes. The services run from the
//! binaries of this build (`cargo test --workspace` builds them first; alone:
//! `cargo build --bins -p sandbox -p auth-service -p sync-service -p connector-outlook
//! -p connector-zoho`).

use crash_test::Config;
use harness::system::{self, Paths};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_duplicated_when_services_crash_during_the_first_sync() {
    let bin_dir = system::default_bin_dir().expect("the test's directory");
    let out_dir = system::default_out_dir(&bin_dir).with_file_name("crash-test");
    let paths = Paths {
        bin_dir,
        out_dir: out_dir.clone(),
    };
    // A fixed seed: a failure is reproduced with `scripts/crash-test.sh --short --seed 12`.
    let report = crash_test::run(&paths, &Config::short(), 12)
        .await
        .expect("the run completes");
    eprintln!("{}", report.line());
    let _ = std::fs::create_dir_all(&out_dir);
    let _ = std::fs::write(
        out_dir.join("run-12.json"),
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    );
    assert!(report.settled, "the system did not settle: {report:#?}");
    assert!(
        report.workload_errors.is_empty(),
        "the workload failed: {:?}",
        report.workload_errors
    );
    assert!(report.chaos.total_kills() >= 3, "{:?}", report.chaos);
    assert_eq!(report.chaos.broker_outages, 1);
    assert_eq!(report.chaos.database_outages, 1);
    assert!(
        report.verdict.total.clean(),
        "{}\n{:#?}",
        report.line(),
        report.verdict
    );
}

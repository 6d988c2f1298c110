//! CI's smoke test of the benchmark: `bench all --quick` against the service binaries of this
//! build (the debug ones under `cargo test --workspace`, which builds every binary first) must
//! complete, and every scenario must converge. How fast is measured and reported, never asserted.

use std::process::Command;

#[test]
fn quick_benchmark_completes_and_converges() {
    let bench = env!("CARGO_BIN_EXE_bench");
    let out = std::env::temp_dir().join(format!("bench-smoke-{}", std::process::id()));
    let output = Command::new(bench)
        .args(["all", "--quick", "--no-build", "--out"])
        .arg(&out)
        .output()
        .expect("the bench binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench all --quick failed:\n{stderr}\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json written"),
    )
    .expect("report.json is JSON");
    assert_eq!(report["initial_sync"]["converged"], true, "{report:#}");
    assert_eq!(report["steady_state"]["lost"], 0, "{report:#}");
    assert_eq!(report["engine_throughput"]["completed"], true, "{report:#}");
    // Both replicas took part; the poisoned user was held while the others' edits arrived.
    let decided = report["engine_throughput"]["two_replicas"]["decided"]
        .as_object()
        .expect("two replicas measured");
    assert_eq!(decided.len(), 2, "{report:#}");
    assert_eq!(report["poison"]["lost"], 0, "{report:#}");
    assert!(
        report["poison"]["poisoned"]["held"]["state"].is_string(),
        "{report:#}"
    );
    assert!(out.join("report.md").is_file());
    assert!(out.join("latency.svg").is_file());
    let _ = std::fs::remove_dir_all(&out);
}

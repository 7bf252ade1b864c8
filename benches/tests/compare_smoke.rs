//! The comparison harness in its quick mode: a small N through Plexus (the
//! embedded engine and the `plexus serve` daemon fed by `plexus emit`) and
//! through the Go host, to both the Go and the Rust plugin, must deliver
//! every event exactly once, intact, on every side. A correctness check of
//! the harness and of the delivery paths, not a timing one: no figure is
//! asserted.

use plexus_benches::report::{Host, Mode, Report, Target};
use std::process::Command;

#[test]
fn quick_comparison_delivers_every_event_in_both_modes() {
    let go = plexus_interop::go_fixtures();
    let rust_plugin = plexus_interop::workspace_bin("notifier-jsonl");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let output = Command::new(env!("CARGO_BIN_EXE_plexus-compare"))
        .arg("--quick")
        .args(["--events", "600", "--mode", "both", "--emit-batch", "64"])
        .arg("--plexus")
        .arg(plexus_interop::workspace_bin("plexus"))
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .arg("--out")
        .arg(&out)
        .arg("--rust-plugin")
        .arg(&rust_plugin)
        .arg("--go-plugin")
        .arg(&go.plugin)
        .arg("--go-host")
        .arg(&go.host)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "plexus-compare --quick failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("every run recorded all 600 events"),
        "{stdout}"
    );

    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(report.runs.len(), 6, "{report:#?}");
    for (host, mode) in [
        (Host::Plexus, Some(Mode::Engine)),
        (Host::Plexus, Some(Mode::Daemon)),
        (Host::Go, None),
    ] {
        for target in [Target::GoPlugin, Target::RustPlugin] {
            let run = report
                .runs
                .iter()
                .find(|r| r.host == host && r.mode == mode && r.target == target)
                .unwrap_or_else(|| panic!("no run {host:?} {mode:?} -> {target:?}"));
            assert!(
                run.check.ok(),
                "{host:?} {mode:?} -> {target:?}: {}",
                run.check.describe()
            );
            assert_eq!(run.events, 600);
        }
    }
    // The Rust plugin is reached through the batch extension, the Go plugin
    // through SFTPGo's unary service.
    let notes = |target| {
        report
            .runs
            .iter()
            .find(|r| r.host == Host::Plexus && r.mode == Some(Mode::Engine) && r.target == target)
            .map(|r| r.notes.clone())
            .unwrap_or_default()
    };
    assert!(notes(Target::RustPlugin).contains(&"batched".to_owned()));
    assert!(notes(Target::GoPlugin).contains(&"unary".to_owned()));
    assert_eq!(report.comparisons.len(), 4);
    for c in &report.comparisons {
        // Latency is compared in engine mode only.
        assert_eq!(c.p99_ratio.is_some(), c.mode == Mode::Engine, "{c:?}");
    }
    let svg = std::fs::read_to_string(out.join("comparison.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Rust plugin"));
}

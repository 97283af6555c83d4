//! The fuzz campaign as part of the suite: `fuzz/run` builds the cargo-fuzz targets (the IPC
//! frame decoder, the job-request parser and checks) and runs each for a short while. It needs
//! the nightly toolchain and cargo-fuzz, which `.ci/setup` installs: without them the test
//! fails under `CI=true` and is skipped, with a note, elsewhere.

use std::path::Path;
use std::process::Command;

/// Whether `fuzz/run` can work here: a nightly toolchain with cargo-fuzz.
fn fuzz_tools_present() -> bool {
    Command::new("rustup")
        .args(["run", "nightly", "cargo", "fuzz", "--version"])
        .output()
        .is_ok_and(|output| output.status.success())
}

#[test]
fn fuzz_targets_find_nothing_in_a_short_run() {
    if !fuzz_tools_present() {
        let note = "the nightly toolchain or cargo-fuzz is missing: run .ci/setup";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{note}");
        eprintln!("skipped: {note}");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/run");
    let output = Command::new(&script).output().expect("fuzz/run starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "fuzz/run failed ({}); the input that broke a target is under fuzz/artifacts/. \
         Its output ended:\n{}\n{}",
        output.status,
        tail(&String::from_utf8_lossy(&output.stderr), 60),
        tail(&stdout, 30),
    );
    for target in ["ipc_frame", "job_request"] {
        assert!(stdout.contains(&format!("fuzz/run: {target} for")), "{target} did not run");
    }
}

fn tail(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

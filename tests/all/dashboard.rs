//! The dashboard in a real browser (Debian's Chromium driven by playwright-core, installed by
//! `.ci/setup`) against a real `wasmpool serve`. The scenarios live in
//! `web/tests/dashboard.mjs`; screenshots land in the target directory.

use std::path::PathBuf;
use std::process::Command;

use super::server::Server;

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn browse(scenario: &str, server: &Server, extra_env: &[(&str, &str)]) {
    let repo = env!("CARGO_MANIFEST_DIR");
    let script = format!("{repo}/web/tests/dashboard.mjs");
    assert!(
        PathBuf::from(format!("{repo}/web/node_modules/playwright-core")).exists(),
        "playwright-core is not installed: run .ci/setup (npm ci --prefix web)"
    );
    let out = Command::new("node")
        .arg(&script)
        .args([scenario, &server.url, out_dir().to_str().unwrap(), artifacts::LONG_TIME_TASK])
        .envs(extra_env.iter().copied())
        .output()
        .expect("node runs (install Node.js and run .ci/setup)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "dashboard scenario `{scenario}` failed:\n{text}");
}

#[test]
fn the_dashboard_shows_and_drives_the_pool() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(4, data.path(), &[]);
    browse("pool", &server, &[]);
    assert!(
        out_dir().join("dashboard-busy.png").exists(),
        "the screenshot of the busy pool was saved"
    );
}

#[test]
fn the_dashboard_asks_for_the_token_once() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &["--token", "dash-token-1"]);
    browse("token", &server, &[("WASMPOOL_TOKEN", "dash-token-1")]);
}

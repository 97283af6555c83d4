//! The dashboard in a real browser (Debian's Chromium driven by playwright-core, installed by
//! `.ci/setup`) against a real `wasmpool serve`. The scenarios live in
//! `web/tests/dashboard.mjs`; screenshots land in the target directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::postgres;
use super::server::Server;

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn browse(scenario: &str, server: &Server, extra_env: &[(&str, &str)]) {
    browse_with(scenario, server, extra_env, |_| None);
}

/// Runs a scenario; each line it prints goes to `on_line`, whose answer (if any) is written
/// back to the script's stdin as a line.
fn browse_with(
    scenario: &str,
    server: &Server,
    extra_env: &[(&str, &str)],
    mut on_line: impl FnMut(&str) -> Option<String>,
) {
    let repo = env!("CARGO_MANIFEST_DIR");
    let script = format!("{repo}/web/tests/dashboard.mjs");
    assert!(
        PathBuf::from(format!("{repo}/web/node_modules/playwright-core")).exists(),
        "playwright-core is not installed: run .ci/setup (npm ci --prefix web)"
    );
    let mut child = Command::new("node")
        .arg(&script)
        .args([scenario, &server.url, out_dir().to_str().unwrap(), artifacts::LONG_TIME_TASK])
        .envs(extra_env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (install Node.js and run .ci/setup)");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut text = String::new();
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line.expect("the script's output");
        if let Some(answer) = on_line(&line) {
            // The script may have failed meanwhile; its status says so below.
            let _ = writeln!(stdin, "{answer}");
        }
        text.push_str(&line);
        text.push('\n');
    }
    drop(stdin);
    let status = child.wait().expect("node ends");
    text.push_str(&errors.join().expect("the stderr reader"));
    assert!(status.success(), "dashboard scenario `{scenario}` failed:\n{text}");
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

#[tokio::test(flavor = "multi_thread")]
async fn the_job_dialog_shows_output_while_the_job_runs() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::QUEUE_READER, "queue-reader").await;
    tokio::task::block_in_place(|| browse("live", &server, &[]));
    assert!(out_dir().join("dashboard-live-output.png").exists(), "the screenshot was saved");
}

/// A host with two lanes: the page groups its tiles by lane under a heading each, every tile
/// carries `data-lane` and `data-node`, and the slow lane's heading shows its busy worker and
/// its queued jobs.
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_groups_workers_by_lane() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_lanes(&["default=2", "slow=1"], data.path(), &[]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let slow = serde_json::json!({
        "module": "sleeper", "args": ["120"], "lane": "slow", "timeout_ms": 300_000 });
    let ids = server.submit_batch(vec![slow; 3]).await;
    server.wait_for_start(ids[0]).await;
    tokio::task::block_in_place(|| browse("lanes", &server, &[]));
    assert!(out_dir().join("dashboard-lanes.png").exists(), "the screenshot was saved");
}

/// Two hosts on one PostgreSQL: host a's page groups the tiles by host, shows b's workers
/// and jobs, and shows b plainly as lost (no tiles) within 10 s of b being SIGKILLed.
#[test]
fn the_dashboard_groups_workers_by_host_and_shows_a_lost_host() {
    let url = postgres::shared().database();
    let host = |name: &str, data: &std::path::Path| {
        let args = ["--store", &url, "--node", name, "--heartbeat", "200ms", "--lease", "2s"];
        Server::start(2, data, &args)
    };
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = host("a", data_a.path());
    let mut b = Some(host("b", data_b.path()));
    browse_with("hosts", &a, &[], |line| {
        (line == "KILL b").then(|| {
            b.take().expect("b is killed once").kill();
            "killed".to_string()
        })
    });
    assert!(b.is_none(), "the scenario asked for b to be killed");
    assert!(out_dir().join("dashboard-host-lost.png").exists(), "the screenshot was saved");
}

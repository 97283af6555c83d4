//! The dashboard in a real browser (Debian's Chromium driven by playwright-core, installed by
//! `.ci/setup`) against a real `wasmpool serve`. The scenarios live in
//! `web/tests/dashboard.mjs` and `web/tests/views.mjs`; screenshots land in the target
//! directory, and those the README shows in `docs/` (so a test run refreshes them).

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
        .env("DOCS_DIR", format!("{repo}/docs"))
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

/// A read token's dashboard shows the pool and hides what only submit or admin may do.
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_hides_controls_a_read_token_may_not_use() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &["--token", "dash-token-2"]);
    let (status, made) =
        server.post("/v1/tokens", serde_json::json!({ "tenant": "acme", "scope": "read" })).await;
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    tokio::task::block_in_place(|| browse("scopes", &server, &[("WASMPOOL_TOKEN", &token)]));
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

/// Waits (bounded) for every job to end; returns them.
async fn ended(server: &Server, ids: &[i64]) -> Vec<serde_json::Value> {
    let mut jobs = Vec::new();
    for id in ids {
        jobs.push(server.wait(*id).await);
    }
    jobs
}

/// The jobs view: 58 jobs, 3 of them failed: a failed row says why, the state and module
/// filters narrow the rows, the second page holds the 8 oldest.
#[tokio::test(flavor = "multi_thread")]
async fn the_jobs_view_shows_why_jobs_failed_filters_and_pages() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    server.upload(artifacts::EXIT_CODE, "exit-code").await;
    // The failing jobs last: they are the newest, on the first page.
    let hellos = server.submit_batch(vec![Server::job("hello", &[]); 55]).await;
    let failing = server.submit_batch(vec![Server::job("exit-code", &["3"]); 3]).await;
    for job in ended(&server, &failing).await {
        assert_eq!(job["state"], "failed", "{job}");
    }
    ended(&server, &hellos).await;
    let ids: Vec<String> = failing.iter().map(i64::to_string).collect();
    let ids = ids.join(",");
    tokio::task::block_in_place(|| browse("jobs", &server, &[("FAILED_IDS", &ids)]));
}

/// The modules view: `sleeper` ran 0.3 s three times and failed once: 4 runs, 75 %, its p95
/// as the store computed it, its last failure; `hello` never ran; delete and upload.
#[tokio::test(flavor = "multi_thread")]
async fn the_modules_view_shows_success_rate_p95_and_the_last_failure() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    server.upload(artifacts::HELLO, "hello").await;
    let ok = server.submit_batch(vec![Server::job("sleeper", &["0.3"]); 3]).await;
    let failed = server.submit(Server::job("sleeper", &["x"])).await;
    ended(&server, &ok).await;
    assert_eq!(ended(&server, &[failed]).await[0]["state"], "failed");
    let failed = failed.to_string();
    let env = [("FAILED_ID", failed.as_str()), ("HELLO_WASM", artifacts::HELLO)];
    tokio::task::block_in_place(|| browse("modules", &server, &env));
}

/// The history view: the bar of each minute with failures shows how many, on charts with
/// axes and units, over the hour and the day.
#[tokio::test(flavor = "multi_thread")]
async fn the_history_view_charts_failures_per_minute_with_axes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::EXIT_CODE, "exit-code").await;
    let failing = server.submit_batch(vec![Server::job("exit-code", &["1"]); 4]).await;
    let passing = server.submit_batch(vec![Server::job("exit-code", &["0"]); 7]).await;
    ended(&server, &failing).await;
    ended(&server, &passing).await;
    let env = [("FAILED", "4"), ("SUCCEEDED", "7")];
    tokio::task::block_in_place(|| browse("history", &server, &env));
}

/// The lanes, hosts and named-queues views, and the tabs back to the live view.
#[tokio::test(flavor = "multi_thread")]
async fn the_lanes_hosts_and_queues_views_show_the_pool_and_the_queues() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    for (queue, item) in [("inbox", "1"), ("inbox", "2"), ("outbox", "1")] {
        let put = server
            .request(reqwest::Method::POST, &format!("/v1/queues/{queue}"))
            .header("content-type", "application/octet-stream")
            .body(item);
        assert_eq!(server.send(put).await.0, 201);
    }
    tokio::task::block_in_place(|| browse("views", &server, &[]));
}

/// The limits view: a rate limit's rate, the starts it allows now and the jobs waiting on it.
#[tokio::test(flavor = "multi_thread")]
async fn the_limits_view_shows_each_limits_use_and_waiting_jobs() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let limit = server
        .request(reqwest::Method::PUT, "/v1/rate-limits/api")
        .json(&serde_json::json!({ "per": 1, "window_ms": 60000 }));
    assert_eq!(server.send(limit).await.0, 200);
    assert_eq!(server.post("/v1/pool/pause", serde_json::json!({})).await.0, 200);
    let job = serde_json::json!({ "module": "hello", "rate_limits": ["api"] });
    let ids = server.submit_batch(vec![job; 3]).await;
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    let env = [("JOB_IDS", ids.join(","))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    tokio::task::block_in_place(|| browse("limits", &server, &env));
}

/// A job request with a name, in a lane.
fn named(module: &str, args: &[&str], name: &str, lane: &str) -> serde_json::Value {
    let mut job = Server::job(module, args);
    job["name"] = name.into();
    job["lane"] = lane.into();
    job
}

/// The jobs view's lane filter, search box and bulk actions on a host with lanes default=1
/// and slow=1: two `slow-hello` jobs in slow, three `nightly-fail` jobs failed in default and
/// one `needle` job. The pool is paused before the page opens, so the jobs *Retry matching…*
/// requeues stay queued for *Cancel matching…* to cancel, and *Delete matching…* deletes.
#[tokio::test(flavor = "multi_thread")]
async fn the_jobs_view_filters_by_lane_searches_and_retries_and_cancels_in_bulk() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_lanes(&["default=1", "slow=1"], data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    server.upload(artifacts::EXIT_CODE, "exit-code").await;
    let slow = server.submit_batch(vec![named("hello", &[], "slow-hello", "slow"); 2]).await;
    let failing = vec![named("exit-code", &["3"], "nightly-fail", "default"); 3];
    let failing = server.submit_batch(failing).await;
    let needle = server.submit(named("hello", &[], "the-needle-job", "default")).await;
    for job in ended(&server, &failing).await {
        assert_eq!(job["state"], "failed", "{job}");
    }
    ended(&server, &slow).await;
    ended(&server, &[needle]).await;
    let (status, pool) = server.post("/v1/pool/pause", serde_json::json!({})).await;
    assert_eq!(status, 200, "{pool}");
    let list = |ids: &[i64]| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let (slow, failing, needle) = (list(&slow), list(&failing), needle.to_string());
    let env = [
        ("SLOW_IDS", slow.as_str()),
        ("FAILED_IDS", failing.as_str()),
        ("NEEDLE_ID", needle.as_str()),
    ];
    tokio::task::block_in_place(|| browse("bulk", &server, &env));
    assert!(out_dir().join("dashboard-jobs-bulk.png").exists(), "the screenshot was saved");
    // What the page did is in the store: the three jobs retried, cancelled, then deleted.
    for id in failing.split(',') {
        let (status, job) = server.get(&format!("/v1/jobs/{id}")).await;
        assert_eq!(status, 404, "{job}");
    }
}

/// The modules view's cap editor sets a module's `max_running` and clears it again.
#[tokio::test(flavor = "multi_thread")]
async fn the_modules_view_sets_and_clears_a_modules_cap() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    tokio::task::block_in_place(|| browse("cap", &server, &[]));
    let (_, module) = server.get("/v1/modules/hello").await;
    assert!(module["max_running"].is_null(), "the cap is cleared: {module}");
    assert!(out_dir().join("dashboard-modules-cap.png").exists(), "the screenshot was saved");
}

/// The schedules view: `tick` (every two seconds) shows its cron, next run and, once it
/// fired, its last run and job; `nightly` (03:00 in Paris) its next run hours ahead; the
/// pause and resume buttons flip `enabled`. A job delayed ten minutes says when it is due.
#[tokio::test(flavor = "multi_thread")]
async fn the_schedules_view_shows_runs_and_pauses_and_resumes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    for (name, cron, zone) in
        [("tick", "*/2 * * * * *", "UTC"), ("nightly", "0 3 * * *", "Europe/Paris")]
    {
        let schedule = serde_json::json!({
            "name": name, "cron": cron, "timezone": zone, "job": Server::job("hello", &[]) });
        let (status, body) = server.post("/v1/schedules", schedule).await;
        assert_eq!(status, 201, "{body}");
    }
    let delayed =
        server.submit(serde_json::json!({ "module": "hello", "delay_ms": 600_000 })).await;
    let delayed = delayed.to_string();
    tokio::task::block_in_place(|| browse("schedules", &server, &[("DELAYED_ID", &delayed)]));
    let (_, tick) = server.get("/v1/schedules/tick").await;
    assert_eq!(tick["enabled"], true, "resumed at the end: {tick}");
    assert!(out_dir().join("dashboard-schedules.png").exists(), "the screenshot was saved");
}

/// The workflows view: a failed workflow listed, drawn as a graph of its jobs coloured by
/// state (parents above children), a click opening a job.
#[tokio::test(flavor = "multi_thread")]
async fn the_workflows_view_draws_a_workflow_as_a_graph() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    server.upload(artifacts::EXIT_CODE, "exit-code").await;
    let job = |name: &str, module: &str, args: &[&str], after: &[&str]| serde_json::json!({ "name": name, "module": module, "args": args, "after": after });
    let mut notify = job("notify", "hello", &[], &["test"]);
    notify["on_parent_failure"] = "run".into();
    let ids = server
        .submit_batch(vec![
            job("build", "hello", &[], &[]),
            job("test", "exit-code", &["1"], &["build"]),
            job("deploy", "hello", &[], &["test"]),
            notify,
        ])
        .await;
    let last = server.wait(ids[3]).await;
    assert_eq!(last["state"], "succeeded", "{last}");
    let workflow = last["workflow"].to_string();
    let env = [("WORKFLOW_ID", workflow.as_str())];
    tokio::task::block_in_place(|| browse("workflows", &server, &env));
}

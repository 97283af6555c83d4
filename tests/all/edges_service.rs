//! Rough edges a newcomer hit with the service (issue 25): the module filter refusing the
//! short hash `jobs` prints, delayed jobs without a due time, a PostgreSQL that is not there,
//! lost and draining hosts, unnamed uploads, `--delay` answered in milliseconds, and `status`
//! leaving out the attempts and a running job's output. Real `serve`, real client verbs.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::cluster::host;
use super::harness::{output, stderr};
use super::postgres;
use super::server::{Server, ok, verb};

fn time(value: &Value) -> SystemTime {
    humantime::parse_rfc3339(value.as_str().expect("a time")).expect("RFC 3339 time")
}

/// `hello.wasm` with a custom section holding `n`: another module (another hash) that runs
/// the same.
fn variant(n: u32) -> Vec<u8> {
    let mut bytes = std::fs::read(artifacts::HELLO).unwrap();
    // Section id 0 (custom), its size, the name `x`, then `n`.
    bytes.extend_from_slice(&[0, 6, 1, b'x']);
    bytes.extend_from_slice(&n.to_le_bytes());
    bytes
}

/// Two variants whose hashes share their first four hex digits.
fn two_with_a_common_prefix() -> (Vec<u8>, Vec<u8>, String) {
    let mut seen = std::collections::HashMap::new();
    for n in 0.. {
        let bytes = variant(n);
        let prefix = hex::encode(Sha256::digest(&bytes))[..4].to_string();
        if let Some(other) = seen.insert(prefix.clone(), n) {
            return (variant(other), bytes, prefix);
        }
    }
    unreachable!()
}

async fn upload_bytes(server: &Server, bytes: Vec<u8>, name: &str) -> String {
    let request = server
        .request(reqwest::Method::POST, &format!("/v1/modules?name={name}"))
        .header("content-type", "application/wasm")
        .body(bytes.clone());
    let (status, body) = server.send(request).await;
    assert!(status == 201 || status == 200, "{body}");
    assert_eq!(body["hash"].as_str().unwrap(), hex::encode(Sha256::digest(&bytes)));
    body["hash"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_module_filter_takes_the_short_hash_jobs_prints() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let (one, two, common) = two_with_a_common_prefix();
    let hash = upload_bytes(&server, one, "one").await;
    upload_bytes(&server, two, "two").await;
    let id = server.submit(json!({ "module": hash })).await;
    server.wait(id).await;

    let listed = ok(verb(&server, &["jobs", "--module", &hash[..12]]));
    assert!(listed.lines().any(|line| line.starts_with(&format!("{id} "))), "{listed}");
    let (status, page) = server.get(&format!("/v1/jobs?module={}", &hash[..12])).await;
    assert_eq!((status, page["jobs"].as_array().map(Vec::len)), (200, Some(1)), "{page}");

    let ambiguous = verb(&server, &["jobs", "--module", &common]);
    assert_eq!(ambiguous.status.code(), Some(1));
    assert!(stderr(&ambiguous).contains("2 modules' hashes start with"), "{ambiguous:?}");
    let (status, _) = server.get(&format!("/v1/jobs?module={common}")).await;
    assert_eq!(status, 400);

    let unknown = verb(&server, &["jobs", "--module", "0123456789ab"]);
    let text = stderr(&unknown);
    assert_eq!(unknown.status.code(), Some(1), "{text}");
    assert!(text.contains("no module matches `0123456789ab`"), "{text}");
    assert!(!text.contains("upload it first"), "a filter uploads nothing: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delayed_job_says_when_it_is_due() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let submitted = SystemTime::now();
    let id = server.submit(json!({ "module": "hello", "delay_ms": 600_000 })).await;
    let (_, job) = server.get(&format!("/v1/jobs/{id}")).await;
    let due = time(&job["run_at"]);
    assert!(due > submitted + Duration::from_secs(590), "{job}");

    let status = ok(verb(&server, &["status", &id.to_string()]));
    assert!(status.starts_with(&format!("job {id}: queued, due in 9m ")), "{status}");
    let listed = ok(verb(&server, &["jobs"]));
    assert!(listed.contains("queued, due in 9m "), "{listed}");

    let now = server.submit(json!({ "module": "hello" })).await;
    assert_eq!(server.wait(now).await["run_at"], Value::Null, "not delayed: no due time");
}

#[test]
fn a_postgres_that_is_not_there_is_said_at_once() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let data = tempfile::tempdir().unwrap();
    let store = format!("postgres://postgres@127.0.0.1:{port}/wasmpool");
    let args = ["serve", "--listen", "127.0.0.1:0", "--store", &store, "--data"];
    let out = output(&[&args[..], &[data.path().to_str().unwrap()]].concat());
    let text = stderr(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains(&format!("connection refused at 127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("timed out"), "{text}");
}

/// A job on a host that is lost ends at the host's last heartbeat, and the lost host runs
/// nothing; `--advertise` is the address the others show.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_host_runs_nothing_and_its_job_ends_at_its_last_heartbeat() {
    let url = postgres::shared().database();
    let fast = ["--heartbeat", "200ms", "--lease", "2s"];
    let (a, _da) = host(&url, "a", 1, &[&fast[..], &["--advertise", "a.example:8080"]].concat());
    let data = tempfile::tempdir().unwrap();
    let b_args = [&fast[..], &["--store", &url, "--node", "b"]].concat();
    let b = Server::start_lanes(&["slow=1"], data.path(), &b_args);
    a.upload(artifacts::SLEEPER, "sleeper").await;
    let id = a.submit(json!({ "module": "sleeper", "args": ["30"], "lane": "slow" })).await;
    a.wait_for_start(id).await;
    // Killed once a heartbeat after the start said b runs it (busy 1).
    for _ in 0..200 {
        let (_, nodes) = a.get("/v1/nodes").await;
        if nodes.as_array().unwrap().iter().any(|n| n["name"] == "b" && n["busy"] == 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.kill();
    let job = a.poll_job(id, "failed", |job| job["state"] == "failed").await;

    let (_, nodes) = a.get("/v1/nodes").await;
    let node = |name: &str| nodes.as_array().unwrap().iter().find(|n| n["name"] == name).unwrap();
    assert_eq!((&node("b")["state"], &node("b")["busy"]), (&json!("lost"), &json!(0)), "{nodes}");
    let (started, ended) = (time(&job["started_at"]), time(&job["finished_at"]));
    assert!(started < ended && ended <= time(&node("b")["heartbeat_at"]), "{job} {nodes}");
    assert_eq!(node("a")["address"], "a.example:8080", "{nodes}");
}

/// A host draining its running jobs reads `draining`, in `nodes` and to the other hosts.
#[tokio::test(flavor = "multi_thread")]
async fn a_draining_host_says_so() {
    let url = postgres::shared().database();
    let fast = ["--heartbeat", "200ms", "--lease", "2s"];
    let (a, _da) = host(&url, "a", 1, &fast);
    let data = tempfile::tempdir().unwrap();
    let c_args = [&fast[..], &["--store", &url, "--node", "c"]].concat();
    let c = Server::start_lanes(&["slow=1"], data.path(), &c_args);
    a.upload(artifacts::SLEEPER, "sleeper").await;
    let id = a.submit(json!({ "module": "sleeper", "args": ["30"], "lane": "slow" })).await;
    a.wait_for_start(id).await;
    c.signal_terminate();
    let draining = async |server: &Server| {
        for _ in 0..200 {
            let (_, nodes) = server.get("/v1/nodes").await;
            let states: Vec<&Value> =
                nodes.as_array().unwrap().iter().map(|n| &n["state"]).collect();
            if nodes
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["name"] == "c" && n["state"] == "draining")
            {
                return;
            }
            assert!(states.iter().all(|s| *s != "left"), "{nodes}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("c never read draining");
    };
    draining(&a).await;
    draining(&c).await;
    let (status, _) = a.post(&format!("/v1/jobs/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200);
    assert!(c.wait_exit().success());
    let (_, nodes) = a.get("/v1/nodes").await;
    let c_node = nodes.as_array().unwrap().iter().find(|n| n["name"] == "c").unwrap().clone();
    assert_eq!((&c_node["state"], &c_node["busy"]), (&json!("left"), &json!(0)), "{nodes}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_submitted_file_is_named_after_it_and_logged_by_short_hash() {
    let data = tempfile::tempdir().unwrap();
    let (server, log) = Server::start_logged(1, data.path(), &[]);
    let stem = Path::new(artifacts::EXIT_CODE).file_stem().unwrap().to_str().unwrap().to_string();
    let id = ok(verb(&server, &["submit", artifacts::EXIT_CODE, "0"]));
    let job = server.wait(id.trim().parse().unwrap()).await;
    assert_eq!(job["module_name"], stem.as_str(), "{job}");
    let listed = ok(verb(&server, &["jobs"]));
    assert!(listed.contains(&format!(" {stem} ")), "{listed}");

    let hash = job["module"].as_str().unwrap().to_string();
    let by_hash = server.submit(json!({ "module": hash, "args": ["0"] })).await;
    server.wait(by_hash).await;
    let submitted = log
        .iter()
        .find(|line| line.contains("job submitted") && line.contains(&format!("job={by_hash}")))
        .expect("a `job submitted` line");
    assert!(!submitted.contains(&hash), "64 hex digits in {submitted}");
    assert!(submitted.contains(&hash[..12]), "{submitted}");
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_delay_above_the_maximum_answers_in_its_own_unit() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let out = verb(&server, &["submit", "--delay", "30d", "hello"]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("--delay 30d is above the service's maximum: at most 7d"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_the_attempts_and_a_running_job_s_output_so_far() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::EXIT_CODE, "exit-code").await;
    server.upload(artifacts::LONG_TIME_TASK, "long").await;
    let failing =
        server.submit(json!({ "module": "exit-code", "args": ["3"], "max_attempts": 2 })).await;
    server.wait(failing).await;
    let text = ok(verb(&server, &["status", &failing.to_string()]));
    let history = text.split("--- attempts\n").nth(1).expect("an attempts section");
    let rows: Vec<&str> = history.lines().skip(1).take_while(|l| !l.starts_with("---")).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows.iter().all(|row| row.contains("failed") && row.contains(" 3 ")), "{text}");

    let env = json!({ "LONG_TIME_TASK_MIN_MS": "60000", "LONG_TIME_TASK_MAX_MS": "60001" });
    let running = server.submit(json!({ "module": "long", "args": ["7"], "env": env })).await;
    server.wait_for_start(running).await;
    let mut shown = String::new();
    for _ in 0..200 {
        shown = ok(verb(&server, &["status", &running.to_string()]));
        if shown.contains("--- stdout (so far)\nRun task 7") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(shown.contains("--- stdout (so far)\nRun task 7"), "{shown}");
    server.post(&format!("/v1/jobs/{running}/cancel"), json!({})).await;
}

/// The one host of an SQLite service reads `draining` while it finishes its jobs.
#[tokio::test(flavor = "multi_thread")]
async fn a_draining_service_says_so_in_nodes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let id = server.submit(json!({ "module": "sleeper", "args": ["30"] })).await;
    server.wait_for_start(id).await;
    let (_, nodes) = server.get("/v1/nodes").await;
    assert_eq!(nodes[0]["state"], "alive", "{nodes}");
    server.signal_terminate();
    let mut nodes = Value::Null;
    for _ in 0..200 {
        nodes = server.get("/v1/nodes").await.1;
        if nodes[0]["state"] == "draining" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(nodes[0]["state"], "draining", "{nodes}");
    server.post(&format!("/v1/jobs/{id}/cancel"), json!({})).await;
    assert!(server.wait_exit().success());
}

//! Lanes and per-module caps, through a real `wasmpool serve` (SQLite, and two hosts on one
//! PostgreSQL): a lane of slow jobs does not hold up the quick ones of another, a lane no
//! host serves is refused by name, a capped module never has more jobs running than its cap
//! (across hosts too), raising a cap frees waiting jobs, and bad lanes and caps are refused.

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::{output, stderr};
use super::postgres;
use super::server::{Server, ok, verb};

/// The job ids of a batch of `n` copies of `job`.
async fn submit_many(server: &Server, job: Value, n: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(n);
    let jobs = vec![job; n];
    for chunk in jobs.chunks(100) {
        ids.extend(server.submit_batch(chunk.to_vec()).await);
    }
    ids
}

async fn job(server: &Server, id: i64) -> Value {
    let (status, job) = server.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(status, 200, "{job}");
    job
}

/// A sleeper job of `seconds` in `lane`, allowed to run for two minutes.
fn sleeper(lane: &str, seconds: &str) -> Value {
    json!({ "module": "sleeper", "args": [seconds], "lane": lane, "timeout_ms": 120_000 })
}

/// The story: six long jobs in lane `slow` (one worker) and 200 quick `hello` jobs in
/// `default` (one worker). Every hello ends while the first slow job still runs and the
/// other five still wait; in one shared queue the hellos would wait behind all six.
#[tokio::test(flavor = "multi_thread")]
async fn quick_jobs_do_not_wait_behind_a_slow_lane() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_lanes(&["default=1", "slow=1"], data.path(), &[]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    server.upload(artifacts::HELLO, "hello").await;
    let slow = submit_many(&server, sleeper("slow", "90"), 6).await;
    let first = server.wait_for_start(slow[0]).await;
    let hellos = submit_many(&server, json!({ "module": "hello" }), 200).await;
    let mut last_end = String::new();
    for id in &hellos {
        let hello = server.wait(*id).await;
        assert_eq!(hello["state"], "succeeded", "{hello}");
        assert_eq!(hello["lane"], "default");
        last_end = last_end.max(hello["finished_at"].as_str().unwrap().to_string());
    }
    // RFC 3339 in UTC with fixed digits: the strings order as the times do.
    assert!(last_end.as_str() > first["started_at"].as_str().unwrap());
    let first = job(&server, slow[0]).await;
    assert_eq!((first["state"].as_str(), first["lane"].as_str()), (Some("running"), Some("slow")));
    for id in &slow[1..] {
        assert_eq!(
            job(&server, *id).await["state"],
            "queued",
            "the slow lane's one worker is busy"
        );
    }

    let (_, pool) = server.get("/v1/pool").await;
    let lanes: Vec<Value> = pool["lanes"].as_array().unwrap().clone();
    assert_eq!(
        lanes,
        [
            json!({ "name": "default", "workers": 1, "busy": 0, "queued": 0, "running": 0 }),
            json!({ "name": "slow", "workers": 1, "busy": 1, "queued": 5, "running": 1 }),
        ],
        "{pool}"
    );
    let worker_lanes: Vec<&str> =
        pool["workers"].as_array().unwrap().iter().map(|w| w["lane"].as_str().unwrap()).collect();
    assert_eq!(worker_lanes, ["default", "slow"]);
    let busy = pool["workers"].as_array().unwrap().iter().find(|w| w["state"] == "busy").unwrap();
    assert_eq!((busy["lane"].as_str(), busy["job_id"].as_i64()), (Some("slow"), Some(slow[0])));
}

/// A job naming a lane this host does not serve is refused, naming the lanes there are; so is
/// a batch holding one, and a run: nothing of theirs is stored.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_lane_is_refused_naming_the_lanes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_lanes(&["default=1", "slow=1"], data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let expected = json!({ "error": {
        "code": "unknown_lane", "message": "no lane `x`; lanes: default, slow" } });
    let (status, body) = server.post("/v1/jobs", json!({ "module": "hello", "lane": "x" })).await;
    assert_eq!((status, &body), (400, &expected));
    let batch = json!({ "jobs": [{ "module": "hello" }, { "module": "hello", "lane": "x" }] });
    let (status, body) = server.post("/v1/jobs/batch", batch).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("unknown_lane")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("jobs[1]: no lane `x`"));
    let wasm = std::fs::read(artifacts::ECHO).unwrap();
    let run = server
        .request(reqwest::Method::POST, "/v1/run?lane=x")
        .header("content-type", "application/wasm")
        .body(wasm);
    let (status, body) = server.send(run).await;
    assert_eq!((status, &body), (400, &expected));
    let (_, jobs) = server.get("/v1/jobs").await;
    assert_eq!(jobs["jobs"], json!([]), "nothing was stored");
    let (_, modules) = server.get("/v1/modules").await;
    assert_eq!(modules.as_array().unwrap().len(), 1, "the run's module was not stored");

    // The client verb says the same, and a lane the host serves is taken.
    let refused = verb(&server, &["submit", "--lane", "x", "hello"]);
    assert_ne!(refused.status.code(), Some(0));
    assert!(stderr(&refused).contains("no lane `x`; lanes: default, slow"), "{}", stderr(&refused));
    ok(verb(&server, &["submit", "--lane", "slow", "--wait", "hello"]));
    let (_, jobs) = server.get("/v1/jobs").await;
    assert_eq!(jobs["jobs"][0]["lane"], "slow");
    assert_eq!(jobs["jobs"][0]["state"], "succeeded");
}

/// Samples the running jobs of `module` on `server` until none is queued or running; returns
/// the most seen at once.
async fn most_running_while_draining(server: &Server, module: &str, ids: &[i64]) -> usize {
    let mut most = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (status, page) =
            server.get(&format!("/v1/jobs?state=running&module={module}&limit=1000")).await;
        assert_eq!(status, 200, "{page}");
        most = most.max(page["jobs"].as_array().unwrap().len());
        let (_, queued) =
            server.get(&format!("/v1/jobs?state=queued&module={module}&limit=1")).await;
        if page["jobs"] == json!([]) && queued["jobs"] == json!([]) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the jobs did not drain");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for id in ids {
        assert_eq!(server.wait(*id).await["state"], "succeeded");
    }
    most
}

/// A module capped at 2 on a pool of 4 never has 3 jobs running, while the other workers run
/// an uncapped module's jobs beside them.
#[tokio::test(flavor = "multi_thread")]
async fn a_capped_module_never_runs_more_than_its_cap() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(4, data.path(), &[]);
    let bytes = std::fs::read(artifacts::SLEEPER).unwrap();
    let upload = server
        .request(reqwest::Method::POST, "/v1/modules?name=sleeper&max_running=2")
        .header("content-type", "application/wasm")
        .body(bytes);
    let (status, module) = server.send(upload).await;
    assert_eq!((status, module["max_running"].as_u64()), (201, Some(2)), "{module}");
    server.upload(artifacts::HELLO, "hello").await;
    let ids = submit_many(&server, sleeper("default", "0.2"), 12).await;
    let hellos = submit_many(&server, json!({ "module": "hello" }), 20).await;
    let most = most_running_while_draining(&server, "sleeper", &ids).await;
    assert_eq!(most, 2, "at most the cap, and the cap reached");
    for id in hellos {
        assert_eq!(server.wait(id).await["state"], "succeeded");
    }
}

/// Jobs waiting for a full cap run once `PATCH` raises it; `modules set` clears it.
#[tokio::test(flavor = "multi_thread")]
async fn raising_a_cap_frees_the_jobs_waiting_for_it() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(3, data.path(), &[]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let (status, module) = server.patch("/v1/modules/sleeper", json!({ "max_running": 1 })).await;
    assert_eq!((status, module["max_running"].as_u64()), (200, Some(1)), "{module}");
    let ids = submit_many(&server, sleeper("default", "60"), 3).await;
    server.wait_for_start(ids[0]).await;
    // Two free workers, yet the others wait: the claim that took the first left them.
    assert_eq!(job(&server, ids[1]).await["state"], "queued");
    assert_eq!(job(&server, ids[2]).await["state"], "queued");
    let (status, module) = server.patch("/v1/modules/sleeper", json!({ "max_running": 3 })).await;
    assert_eq!((status, module["max_running"].as_u64()), (200, Some(3)));
    server.wait_for_start(ids[1]).await;
    server.wait_for_start(ids[2]).await;

    let shown = ok(verb(&server, &["modules", "set", "sleeper", "--max-running", "none"]));
    assert!(shown.contains("no cap"), "{shown}");
    let (_, module) = server.get("/v1/modules/sleeper").await;
    assert_eq!(module["max_running"], Value::Null);
    let shown = ok(verb(&server, &["--json", "modules", "set", "sleeper", "--max-running", "2"]));
    assert_eq!(serde_json::from_str::<Value>(&shown).unwrap()["max_running"], 2);
    for id in ids {
        let (status, _) = server.post(&format!("/v1/jobs/{id}/cancel"), json!({})).await;
        assert_eq!(status, 200);
    }
}

/// Bad lanes and caps in requests are 400s that change nothing; an unknown module is 404.
#[tokio::test(flavor = "multi_thread")]
async fn bad_lanes_and_caps_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    for lane in ["", "-x", ".x", "a b", "é", &"x".repeat(65), "a/b"] {
        let (status, body) =
            server.post("/v1/jobs", json!({ "module": "hello", "lane": lane })).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{lane:?}"
        );
        assert!(body["error"]["message"].as_str().unwrap().contains("lane name"), "{body}");
    }
    let (status, body) = server.post("/v1/jobs", json!({ "module": "hello", "lane": 3 })).await;
    assert_eq!(status, 400, "{body}");
    let long_ok = "x".repeat(64);
    let (status, body) =
        server.post("/v1/jobs", json!({ "module": "hello", "lane": long_ok })).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("unknown_lane")), "{body}");
    for patch in [
        json!({ "max_running": 0 }),
        json!({ "max_running": -1 }),
        json!({ "max_running": "2" }),
        json!({ "max_running": 4294967296u64 }),
        json!({ "max_runing": 2 }),
    ] {
        let (status, body) = server.patch("/v1/modules/hello", patch.clone()).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{patch}");
    }
    let (status, _) = server.patch("/v1/modules/nope", json!({ "max_running": 1 })).await;
    assert_eq!(status, 404);
    let (_, module) = server.get("/v1/modules/hello").await;
    assert_eq!(module["max_running"], Value::Null, "nothing changed");
    // An upload with a bad cap stores nothing.
    let upload = server
        .request(reqwest::Method::POST, "/v1/modules?name=echo&max_running=0")
        .header("content-type", "application/wasm")
        .body(std::fs::read(artifacts::ECHO).unwrap());
    let (status, body) = server.send(upload).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = server.get("/v1/modules/echo").await;
    assert_eq!(status, 404);
    let (_, jobs) = server.get("/v1/jobs").await;
    assert_eq!(jobs["jobs"], json!([]));
}

/// `serve --lane` refuses what it cannot mean, with exit code 2 and a sentence.
#[test]
fn bad_lane_options_exit_2() {
    let data = tempfile::tempdir().unwrap();
    let data = data.path().to_str().unwrap();
    for (args, says) in [
        (&["--lane", "slow"][..], "is not NAME=N"),
        (&["--lane", "slow=0"], "give a number from 1"),
        (&["--lane", "slow=x"], "give a number from 1"),
        (&["--lane", "a b=1"], "lane name"),
        (&["--lane", "a=1", "--lane", "a=2"], "--lane a is given twice"),
        (&["--workers", "2", "--lane", "a=1"], "--workers and --lane do not go together"),
    ] {
        let mut full = vec!["serve", "--listen", "127.0.0.1:0", "--data", data];
        full.extend_from_slice(args);
        let out = output(&full);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

/// On PostgreSQL the lanes are the cluster's: a job for a lane another host serves is taken
/// (and runs there), one no live host serves is refused naming every host's lanes, and a
/// cap holds across hosts.
#[tokio::test(flavor = "multi_thread")]
async fn lanes_and_caps_hold_across_hosts() {
    let url = postgres::shared().database();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = ["--store", &url, "--heartbeat", "200ms", "--lease", "2s"];
    let a =
        Server::start_lanes(&["default=2"], da.path(), &[&store[..], &["--node", "a"]].concat());
    let b = Server::start_lanes(
        &["default=2", "slow=1"],
        db.path(),
        &[&store[..], &["--node", "b"]].concat(),
    );
    a.upload(artifacts::HELLO, "hello").await;
    let id = a.submit(json!({ "module": "hello", "lane": "slow" })).await;
    let done = a.wait(id).await;
    assert_eq!((done["state"].as_str(), done["node"].as_str()), (Some("succeeded"), Some("b")));
    let (status, body) = a.post("/v1/jobs", json!({ "module": "hello", "lane": "x" })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["message"], "no lane `x`; lanes: default, slow");
    let (_, pool) = a.get("/v1/pool").await;
    let lanes: Vec<(String, u64)> = pool["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lane| (lane["name"].as_str().unwrap().to_string(), lane["workers"].as_u64().unwrap()))
        .collect();
    assert_eq!(lanes, [("default".into(), 4), ("slow".into(), 1)], "{pool}");

    let bytes = std::fs::read(artifacts::SLEEPER).unwrap();
    let upload = a
        .request(reqwest::Method::POST, "/v1/modules?name=sleeper&max_running=2")
        .header("content-type", "application/wasm")
        .body(bytes);
    assert_eq!(a.send(upload).await.0, 201);
    let ids = submit_many(&a, sleeper("default", "0.2"), 12).await;
    let most = most_running_while_draining(&b, "sleeper", &ids).await;
    assert_eq!(most, 2, "at most the cap across both hosts, and the cap reached");
}

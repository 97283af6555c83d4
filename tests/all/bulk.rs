//! Issue 14's bulk actions through the real service: list filters, `POST /v1/jobs/retry`
//! and `/v1/jobs/cancel` (their counts, what they leave alone, bad filters), the CLI verbs,
//! attempts history, and a bulk cancel reaching a job another host of a cluster runs.

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::{stderr, wait_until};
use super::server::{Server, ok, verb};

/// A server with `workers` workers and a data directory of its own.
fn serve(workers: usize) -> (Server, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    (Server::start(workers, data.path(), &[]), data)
}

/// The ids of the jobs a listing query selects, newest first.
async fn listed(server: &Server, query: &str) -> Vec<i64> {
    let (status, page) = server.get(&format!("/v1/jobs?limit=1000&{query}")).await;
    assert_eq!(status, 200, "{query}: {page}");
    page["jobs"].as_array().unwrap().iter().map(|job| job["id"].as_i64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_retry_of_one_module_s_failed_jobs_leaves_other_modules_alone() {
    let (server, _data) = serve(2);
    server.upload(artifacts::EXIT_CODE, "exit").await;
    server.upload(artifacts::TRAP, "trap").await;
    let exits = server.submit_batch(vec![Server::job("exit", &["3"]); 3]).await;
    let traps = server.submit_batch(vec![Server::job("trap", &[]); 2]).await;
    for &id in exits.iter().chain(&traps) {
        assert_eq!(server.wait(id).await["state"], "failed");
    }
    let (status, answer) =
        server.post("/v1/jobs/retry", json!({ "state": "failed", "module": "exit" })).await;
    assert_eq!((status, answer), (200, json!({ "matched": 3, "changed": 3 })));
    for &id in &traps {
        let (_, job) = server.get(&format!("/v1/jobs/{id}")).await;
        assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("failed"), Some(1)));
    }
    for &id in &exits {
        let job = server.poll_job(id, "ran again", |job| job["attempts"] == 2).await;
        let job = server.wait(job["id"].as_i64().unwrap()).await;
        let history = job["attempts_history"].as_array().unwrap();
        let codes: Vec<&Value> = history.iter().map(|attempt| &attempt["exit_code"]).collect();
        assert_eq!(codes, [&json!(3), &json!(3)], "{job}");
    }
    // Succeeded jobs are matched but not retried.
    server.upload(artifacts::HELLO, "hello").await;
    let hello = server.submit(Server::job("hello", &[])).await;
    server.wait(hello).await;
    let (_, answer) = server.post("/v1/jobs/retry", json!({ "module": "hello" })).await;
    assert_eq!(answer, json!({ "matched": 1, "changed": 0 }));
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_cancel_of_queued_jobs_leaves_the_running_one_then_stops_it() {
    let (server, _data) = serve(1);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let running = server.submit(Server::job("sleeper", &["60"])).await;
    let worker = server.wait_for_worker(running).await["worker_pid"].as_u64().unwrap() as u32;
    let queued = server.submit_batch(vec![Server::job("sleeper", &["60"]); 3]).await;
    let (status, answer) =
        server.post("/v1/jobs/cancel", json!({ "state": "queued", "module": "sleeper" })).await;
    assert_eq!((status, answer), (200, json!({ "matched": 3, "changed": 3 })));
    for &id in &queued {
        let (_, job) = server.get(&format!("/v1/jobs/{id}")).await;
        assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("cancelled"), Some(0)));
    }
    assert_eq!(server.get(&format!("/v1/jobs/{running}")).await.1["state"], "running");
    // Now every sleeper: the running one is stopped as a single cancel stops it.
    let (_, answer) = server.post("/v1/jobs/cancel", json!({ "module": "sleeper" })).await;
    assert_eq!(answer, json!({ "matched": 4, "changed": 1 }));
    let stopped = wait_until(Duration::from_secs(10), || !super::harness::alive(worker)).await;
    assert!(stopped, "the cancelled job's worker {worker} still runs");
    assert_eq!(server.get(&format!("/v1/jobs/{running}")).await.1["state"], "cancelled");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_filters_by_time_name_and_search() {
    let (server, _data) = serve(1);
    server.upload(artifacts::HELLO, "hello").await;
    let named = |name: &str| json!({ "module": "hello", "name": name, "delay_ms": 3_600_000 });
    let early = server.submit_batch(vec![named("nightly-a"), named("hourly")]).await;
    let first_late = server.submit_batch(vec![named("nightly-b")]).await[0];
    let (_, job) = server.get(&format!("/v1/jobs/{first_late}")).await;
    let split = job["submitted_at"].as_str().unwrap().to_string();
    let at = |field: &str, time: &str| format!("{field}={}", urlencode(time));
    assert_eq!(listed(&server, &at("submitted_after", &split)).await, [first_late]);
    assert_eq!(listed(&server, &at("submitted_before", &split)).await, [early[1], early[0]]);
    // The same instant written with an offset selects the same jobs.
    let offset = with_offset(&split);
    assert_eq!(listed(&server, &at("submitted_after", &offset)).await, [first_late]);
    assert_eq!(listed(&server, "name=nightly").await, [first_late, early[0]]);
    assert_eq!(listed(&server, "q=hour").await, [early[1]]);
    assert_eq!(listed(&server, &format!("q={}", early[0])).await, [early[0]]);
    let (_, page) = server.get("/v1/jobs?name=nightly&limit=1").await;
    assert_eq!(page["jobs"][0]["id"], first_late, "{page}");
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(listed(&server, &format!("name=nightly&cursor={cursor}")).await, [early[0]]);
    // Bulk with a time filter: cancel the early ones only.
    let body = json!({ "submitted_before": split });
    assert_eq!(server.post("/v1/jobs/cancel", body).await.1, json!({ "matched": 2, "changed": 2 }));
    assert_eq!(listed(&server, "state=queued").await, [first_late]);
}

/// `2025-01-02T03:04:05.123456Z` as the same instant at +01:30.
fn with_offset(utc: &str) -> String {
    let time = humantime::parse_rfc3339(utc).unwrap() + Duration::from_secs(5400);
    let local = humantime::format_rfc3339_micros(time).to_string();
    format!("{}+01:30", local.trim_end_matches('Z'))
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_or_empty_filters_are_refused_and_change_nothing() {
    let (server, _data) = serve(1);
    server.upload(artifacts::HELLO, "hello").await;
    let id = server.submit(json!({ "module": "hello", "delay_ms": 3_600_000 })).await;
    for action in ["/v1/jobs/retry", "/v1/jobs/cancel"] {
        for (body, status) in [
            (json!({}), 400),
            (json!({ "state": "bogus" }), 400),
            (json!({ "statee": "queued" }), 400),
            (json!({ "submitted_after": "yesterday" }), 400),
            (json!({ "submitted_before": "2025-01-02T03:04:05" }), 400),
            (json!({ "schedule": "no spaces" }), 400),
            (json!({ "name": "" }), 400),
            (json!({ "module": "nope" }), 404),
        ] {
            let (got, answer) = server.post(action, body.clone()).await;
            assert_eq!(got, status, "{action} {body}: {answer}");
            assert!(answer["error"]["message"].is_string(), "{answer}");
        }
        let text = server.request(reqwest::Method::POST, action).body(r#"{"state":"queued"}"#);
        assert_eq!(server.send(text.header("content-type", "text/plain")).await.0, 415);
    }
    for query in
        ["state=bogus", "submitted_after=soon", "schedule=-x", "q=", "unknown=1", "limit=0"]
    {
        let (status, answer) = server.get(&format!("/v1/jobs?{query}")).await;
        assert_eq!(status, 400, "{query}: {answer}");
    }
    assert_eq!(server.get("/v1/jobs?module=nope").await.0, 404);
    assert_eq!(server.get(&format!("/v1/jobs/{id}")).await.1["state"], "queued", "unchanged");
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_bulk_verbs_round_trip_with_their_exit_codes() {
    let (server, _data) = serve(1);
    server.upload(artifacts::EXIT_CODE, "exit").await;
    let failed = server.submit_batch(vec![Server::job("exit", &["3"]); 2]).await;
    for &id in &failed {
        server.wait(id).await;
    }
    let out = ok(verb(&server, &["retry", "--state", "failed", "--module", "exit"]));
    assert_eq!(out, "retried 2 of 2 matching jobs\n");
    for &id in &failed {
        server
            .poll_job(id, "ended again", |job| job["attempts"] == 2 && job["state"] == "failed")
            .await;
    }
    let out = ok(verb(&server, &["--json", "retry", "--state", "failed", "--module", "exit"]));
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer, json!({ "matched": 2, "changed": 2 }));

    let delayed = json!({ "module": "exit", "args": ["0"], "delay_ms": 3_600_000 });
    server.submit(delayed).await;
    let out = ok(verb(&server, &["cancel", "--state", "queued", "--module", "exit"]));
    assert_eq!(out, "cancelled 1 of 1 matching job\n");

    let id = failed[0].to_string();
    for usage in [
        vec!["retry"],
        vec!["cancel"],
        vec!["retry", &id, "--state", "failed"],
        vec!["cancel", &id, "--module", "exit"],
        vec!["cancel", "--delete", "--state", "queued"],
    ] {
        let output = verb(&server, &usage);
        assert_eq!(output.status.code(), Some(2), "{usage:?}: {}", stderr(&output));
    }
    let refused = verb(&server, &["retry", "--submitted-after", "soon"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("RFC 3339"), "{}", stderr(&refused));
    let listed = ok(verb(&server, &["jobs", "--state", "cancelled", "--module", "exit"]));
    assert_eq!(listed.lines().count(), 2, "a header and the cancelled job: {listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_failed_twice_then_succeeded_shows_three_attempts() {
    let (server, _data) = serve(1);
    server.upload(artifacts::QUEUE_READER, "queue-reader").await;
    // Each attempt waits 1.5 s for an item on `flaky` and fails without one; the item goes
    // in once the second attempt has failed, so the third finds it.
    let job = json!({ "module": "queue-reader", "args": ["flaky", "1500"], "max_attempts": 3 });
    let id = server.submit(job).await;
    server
        .poll_job(id, "failed twice", |job| {
            job["attempts_history"].as_array().is_some_and(|history| history.len() == 2)
        })
        .await;
    super::live::put(&server, "flaky", "END").await;
    let job = server.wait(id).await;
    assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("succeeded"), Some(3)));
    let history = job["attempts_history"].as_array().unwrap();
    let seen: Vec<(u64, &str, &Value)> = history
        .iter()
        .map(|a| (a["attempt"].as_u64().unwrap(), a["state"].as_str().unwrap(), &a["error"]))
        .collect();
    assert_eq!(seen.len(), 3, "{job}");
    assert_eq!((seen[2].0, seen[2].1, seen[2].2), (3, "succeeded", &Value::Null));
    for (n, attempt) in seen[..2].iter().enumerate() {
        assert_eq!((attempt.0, attempt.1), (n as u64 + 1, "failed"));
        assert!(attempt.2.as_str().is_some_and(|e| e.contains("exit")), "{job}");
    }
    assert!(history.iter().all(|a| a["worker_pid"].as_u64().is_some() && a["node"].is_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_cancel_on_one_host_stops_the_job_running_on_another() {
    let url = super::postgres::shared().database();
    let (b, _db) = super::cluster::host(&url, "b", 1, &[]);
    b.upload(artifacts::SLEEPER, "sleeper").await;
    let id = b.submit(json!({ "module": "sleeper", "args": ["60"] })).await;
    let worker = b.wait_for_worker(id).await["worker_pid"].as_u64().unwrap() as u32;
    let (a, _da) = super::cluster::host(&url, "a", 1, &[]);
    let (status, answer) =
        a.post("/v1/jobs/cancel", json!({ "module": "sleeper", "node": "b" })).await;
    assert_eq!((status, answer), (200, json!({ "matched": 1, "changed": 1 })));
    let stopped = wait_until(Duration::from_secs(5), || {
        !(super::harness::children(b.pid()).contains(&worker) && super::harness::alive(worker))
    })
    .await;
    assert!(stopped, "b's worker still ran the cancelled job");
    assert_eq!(b.get(&format!("/v1/jobs/{id}")).await.1["state"], "cancelled");
}

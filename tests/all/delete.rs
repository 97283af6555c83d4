//! Deleting ended jobs by filter (Sidekiq's and Oban Web's habit), through the real
//! service: `POST /v1/jobs/delete` (its counts, the dry run, what it leaves alone, the
//! `deleted` event) and `wasmpool delete` by filter and by id.

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::stderr;
use super::server::{Server, ok, verb};

fn serve(workers: usize) -> (Server, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    (Server::start(workers, data.path(), &[]), data)
}

/// The next `event: deleted` of an event stream (bounded).
async fn next_deleted(stream: &mut reqwest::Response) -> Value {
    let mut text = String::new();
    loop {
        if let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            if block.lines().any(|line| line == "event: deleted") {
                let data = block.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
                return serde_json::from_str(data).unwrap();
            }
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_delete_removes_the_ended_jobs_it_selects_and_says_so() {
    let (server, _data) = serve(1);
    server.upload(artifacts::EXIT_CODE, "exit").await;
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let failed = server.submit_batch(vec![Server::job("exit", &["3"]); 3]).await;
    let passed = server.submit(Server::job("exit", &["0"])).await;
    for &id in &failed {
        assert_eq!(server.wait(id).await["state"], "failed");
    }
    server.wait(passed).await;
    let running = server.submit(Server::job("sleeper", &["60"])).await;
    server.wait_for_worker(running).await;

    let (status, answer) =
        server.post("/v1/jobs/delete", json!({ "module": "exit", "dry_run": true })).await;
    assert_eq!((status, answer), (200, json!({ "matched": 4, "deleted": 4 })), "would go");
    assert_eq!(server.get(&format!("/v1/jobs/{}", failed[0])).await.0, 200, "dry run");
    let (status, answer) =
        server.post("/v1/jobs/delete", json!({ "module": "sleeper", "dry_run": true })).await;
    assert_eq!((status, answer), (200, json!({ "matched": 1, "deleted": 0 })), "still running");

    let mut events = reqwest::get(format!("{}/v1/events", server.url)).await.unwrap();
    let (status, answer) =
        server.post("/v1/jobs/delete", json!({ "state": "failed", "module": "exit" })).await;
    assert_eq!((status, answer), (200, json!({ "matched": 3, "deleted": 3 })));
    let mut announced: Vec<i64> = serde_json::from_value(next_deleted(&mut events).await).unwrap();
    announced.sort();
    assert_eq!(announced, failed, "the dashboard hears which jobs went");
    for &id in &failed {
        assert_eq!(server.get(&format!("/v1/jobs/{id}")).await.0, 404, "job {id} is gone");
    }
    assert_eq!(server.get(&format!("/v1/jobs/{passed}")).await.1["state"], "succeeded");

    // A running job is selected but never deleted; an empty filter deletes nothing.
    let (_, answer) = server.post("/v1/jobs/delete", json!({ "module": "sleeper" })).await;
    assert_eq!(answer, json!({ "matched": 1, "deleted": 0 }));
    assert_eq!(server.get(&format!("/v1/jobs/{running}")).await.1["state"], "running");
    let (status, answer) = server.post("/v1/jobs/delete", json!({})).await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = server.post("/v1/jobs/delete", json!({ "state": "lost" })).await;
    assert_eq!(status, 400);
    assert_eq!(server.get(&format!("/v1/jobs/{passed}")).await.1["state"], "succeeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_delete_verb_deletes_by_filter_and_by_id_but_never_a_running_job() {
    let (server, _data) = serve(1);
    server.upload(artifacts::EXIT_CODE, "exit").await;
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let failed = server.submit_batch(vec![Server::job("exit", &["3"]); 2]).await;
    let passed = server.submit(Server::job("exit", &["0"])).await;
    for &id in failed.iter().chain([&passed]) {
        server.wait(id).await;
    }
    let out = ok(verb(&server, &["delete", "--state", "failed", "--since", "1h", "--dry-run"]));
    assert_eq!(out, "would delete 2 of 2 matching jobs (nothing deleted)\n");
    let out = ok(verb(&server, &["delete", "--state", "failed", "--module", "exit"]));
    assert_eq!(out, "deleted 2 of 2 matching jobs\n");
    assert_eq!(server.get(&format!("/v1/jobs/{}", failed[0])).await.0, 404);

    let out = ok(verb(&server, &["delete", &passed.to_string()]));
    assert_eq!(out, format!("{passed} deleted\n"));
    assert_eq!(server.get(&format!("/v1/jobs/{passed}")).await.0, 404);

    let running = server.submit(Server::job("sleeper", &["60"])).await;
    server.wait_for_worker(running).await;
    let refused = verb(&server, &["delete", &running.to_string()]);
    assert_eq!(refused.status.code(), Some(1));
    let said = stderr(&refused);
    assert!(said.contains("has not ended") && said.contains("wasmpool cancel"), "{said}");
    assert_eq!(server.get(&format!("/v1/jobs/{running}")).await.1["state"], "running");
    // Jobs submitted more than an hour ago: none yet.
    let out = ok(verb(&server, &["delete", "--submitted-before", "1h"]));
    assert_eq!(out, "deleted 0 of 0 matching jobs\n");
}

//! Jobs that talk: named queues between sandboxed jobs and outside clients, through the
//! `wasmpool:task` WIT world.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::harness::stderr;
use super::server::Server;

async fn queue_get(server: &Server, name: &str, timeout_ms: u64) -> Option<String> {
    let path = format!("/v1/queues/{name}/get?timeout_ms={timeout_ms}");
    let response = server.request(reqwest::Method::POST, &path).send().await.unwrap();
    match response.status().as_u16() {
        200 => Some(response.text().await.unwrap()),
        204 => None,
        other => panic!("get {name}: {other} {}", response.text().await.unwrap()),
    }
}

async fn queue_put(server: &Server, name: &str, item: &str) -> (u16, Value) {
    server
        .send(
            server
                .request(reqwest::Method::POST, &format!("/v1/queues/{name}"))
                .header("content-type", "application/octet-stream")
                .body(item.to_string()),
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_writer_and_a_reader_job_talk_through_a_queue() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::QUEUE_WRITER, "queue-writer").await;
    server.upload(artifacts::QUEUE_READER, "queue-reader").await;
    let reader = server.submit(json!({ "module": "queue-reader", "args": ["letters"] })).await;
    let writer = server
        .submit(json!({ "module": "queue-writer", "args": ["letters"], "env": { "QUEUE_WRITER_MAX_PAUSE_MS": "300" } }))
        .await;
    let writer = server.wait(writer).await;
    let reader = server.wait(reader).await;
    assert_eq!(writer["state"], "succeeded", "{writer}");
    assert_eq!(reader["state"], "succeeded", "{reader}");
    let wrote: Vec<&str> = writer["stdout"].as_str().unwrap().lines().skip(1).collect();
    assert_eq!(wrote, ["Put A to queue...", "Put B to queue...", "Put C to queue..."]);
    let read: Vec<&str> = reader["stdout"].as_str().unwrap().lines().skip(1).collect();
    assert_eq!(read, ["Get A from queue.", "Get B from queue.", "Get C from queue."]);
    assert_ne!(writer["worker_pid"], reader["worker_pid"], "two worker processes");
    assert_eq!(
        writer["progress"]["percent"], 100,
        "the writer's progress shows on the job: {writer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_managers_example_end_to_end() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(3, data.path(), &[]);
    server.upload(artifacts::SQUARE, "square").await;
    for n in 1..=10 {
        assert_eq!(queue_put(&server, "tasks", &n.to_string()).await.0, 201);
    }
    let (_, queues) = server.get("/v1/queues").await;
    assert_eq!((&queues[0]["name"], &queues[0]["length"]), (&json!("tasks"), &json!(10)));
    assert!(queues[0]["oldest_age_ms"].is_u64(), "the oldest item's age: {queues}");
    assert_eq!(queues.as_array().map(Vec::len), Some(1), "{queues}");
    let square = json!({ "module": "square", "args": ["tasks", "results", "500"] });
    let jobs = server.submit_batch(vec![square; 3]).await;
    let mut results = BTreeSet::new();
    for _ in 0..10 {
        results.insert(queue_get(&server, "results", 10_000).await.expect("a result within 10 s"));
    }
    let expected: BTreeSet<String> =
        (1..=10).map(|n: i64| format!("{n} * {n} = {}", n * n)).collect();
    assert_eq!(results, expected);
    let mut done = 0;
    for id in jobs {
        let job = server.wait(id).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        done += job["stdout"].as_str().unwrap().matches("run task").count();
    }
    assert_eq!(done, 10, "each task ran exactly once");
    assert_eq!(queue_get(&server, "results", 0).await, None, "nothing more");
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_items_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    for item in ["one", "two", "three"] {
        assert_eq!(queue_put(&server, "keep", item).await.0, 201);
    }
    server.kill();
    let server = Server::start(1, data.path(), &[]);
    for item in ["one", "two", "three"] {
        assert_eq!(queue_get(&server, "keep", 0).await.as_deref(), Some(item));
    }
    assert_eq!(queue_get(&server, "keep", 0).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_fails_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let server =
        Server::start(1, data.path(), &["--queue-capacity", "2", "--queue-put-timeout", "200ms"]);
    assert_eq!(queue_put(&server, "small", "a").await.0, 201);
    let (status, body) = queue_put(&server, "small", "b").await;
    assert_eq!((status, body["length"].as_u64()), (201, Some(2)));
    let (status, body) = queue_put(&server, "small", "c").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "queue_full");
    assert!(body["error"]["message"].as_str().unwrap().contains("stayed full"), "{body}");

    // A job's put on a full queue fails too, and the job says so instead of hanging.
    server.upload(artifacts::QUEUE_WRITER, "queue-writer").await;
    let id = server.submit(json!({ "module": "queue-writer", "args": ["small"] })).await;
    let job = server.wait(id).await;
    assert_eq!(
        (job["state"].as_str(), job["exit_code"].as_i64()),
        (Some("failed"), Some(1)),
        "{job}"
    );
    let said = job["stderr"].as_str().unwrap();
    assert!(said.contains("put failed") && said.contains("stayed full"), "{job}");
    assert_eq!(queue_get(&server, "small", 0).await.as_deref(), Some("a"), "the queue is intact");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_job_blocked_in_get_frees_its_worker() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::QUEUE_READER, "queue-reader").await;
    let id = server.submit(json!({ "module": "queue-reader", "args": ["empty", "30000"] })).await;
    let running = server.wait_for_worker(id).await;
    let cancelled_at = Instant::now();
    let (status, job) =
        server.send(server.request(reqwest::Method::DELETE, &format!("/v1/jobs/{id}"))).await;
    assert_eq!((status, job["state"].as_str()), (200, Some("cancelled")));
    loop {
        let (_, pool) = server.get("/v1/pool").await;
        let worker = &pool["workers"][0];
        if worker["state"] == "idle" && worker["pid"] != running["worker_pid"] {
            break;
        }
        assert!(
            cancelled_at.elapsed() < Duration::from_secs(1),
            "the worker is not free a second later: {pool}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The queue was not touched by the cancelled get.
    assert_eq!(queue_put(&server, "empty", "x").await.0, 201);
    assert_eq!(queue_get(&server, "empty", 0).await.as_deref(), Some("x"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_importing_an_unknown_interface_is_rejected_at_upload() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let bytes = std::fs::read(artifacts::BAD_IMPORT).unwrap();
    let (status, body) = server
        .send(
            server
                .request(reqwest::Method::POST, "/v1/modules")
                .header("content-type", "application/wasm")
                .body(bytes),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("example:missing/nothing"),
        "the message names the interface: {message}"
    );
    assert_eq!(server.get("/v1/modules").await.1, json!([]), "nothing was stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_queue_requests_get_clear_errors() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--queue-item-limit", "1KiB"]);
    let (status, body) = queue_put(&server, "bad name!", "x").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
    let (status, body) = queue_put(&server, "big", &"x".repeat(2000)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );
    let (status, body) = server
        .send(server.request(reqwest::Method::POST, "/v1/queues/q/get?timeout_ms=soon"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(server.get("/v1/queues").await.1, json!([]));
}

#[test]
fn the_queue_verbs_put_list_and_get() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let verb = |args: &[&str]| {
        super::harness::wasmpool(args).env("WASMPOOL_SERVER", &server.url).output().unwrap()
    };
    let out = verb(&["queue", "put", "jobs", "a", "b", "c"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&verb(&["queue", "ls"]).stdout).contains("jobs   3"));
    let out = verb(&["queue", "get", "-n", "3", "jobs"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\nc\n");
    let out = verb(&["queue", "get", "jobs"]);
    assert_eq!(out.status.code(), Some(1), "nothing left: {}", stderr(&out));
}

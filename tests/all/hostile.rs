//! Issue 26's second round of hostile input against a real service: NUL bytes and invalid
//! UTF-8 in URLs and bodies (on SQLite and PostgreSQL alike), schedules too long, too many,
//! or for a lane no host serves, and concurrent bulk actions on PostgreSQL.

use std::time::Duration;

use serde_json::{Value, json};

use super::cluster::host;
use super::postgres;
use super::server::Server;

/// How long any one expected event may take.
const BOUND: Duration = Duration::from_secs(30);

/// Sends a request with a raw path (no re-encoding) and an optional JSON body given as text.
async fn raw(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let mut request = server.request(method, path);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    server.send(request).await
}

/// Every place a NUL (or invalid UTF-8) reached the database through: each is 400
/// `bad_request`, on either store, and changes nothing; NUL in a job's text stdin is bytes,
/// and stays accepted.
async fn nul_is_refused_everywhere(server: &Server) {
    use reqwest::Method;
    server.upload(artifacts::HELLO, "hello").await;
    let schedule = |job: &str| format!(r#"{{"name":"nul","cron":"0 0 * * *","job":{job}}}"#);
    let cases: Vec<(Method, &str, Option<String>)> = vec![
        (Method::GET, "/v1/jobs?name=%00", None),
        (Method::GET, "/v1/jobs?q=a%00b", None),
        (Method::GET, "/v1/jobs?node=%00", None),
        (Method::GET, "/v1/jobs?module=%00", None),
        (Method::GET, "/v1/jobs?schedule=%00", None),
        (Method::GET, "/v1/jobs?name=%ff%fe", None),
        (Method::GET, "/v1/modules/hello%00", None),
        (Method::DELETE, "/v1/modules/hello%00", None),
        (Method::GET, "/v1/schedules/a%00", None),
        (Method::DELETE, "/v1/schedules/a%00", None),
        (Method::POST, "/v1/jobs", Some(r#"{"module":"hello\u0000"}"#.into())),
        (Method::POST, "/v1/jobs", Some(r#"{"module":"hello","name":"a\u0000"}"#.into())),
        (Method::POST, "/v1/jobs/batch", Some(r#"{"jobs":[{"module":"x\u0000"}]}"#.into())),
        (Method::POST, "/v1/jobs/cancel", Some(r#"{"name":"\u0000"}"#.into())),
        (Method::POST, "/v1/jobs/retry", Some(r#"{"q":"a\u0000"}"#.into())),
        (Method::POST, "/v1/schedules", Some(schedule(r#"{"module":"hello\u0000"}"#))),
        (Method::POST, "/v1/schedules", Some(schedule(r#"{"module":"hello","lane":"\u0000"}"#))),
    ];
    for (method, path, body) in cases {
        let (status, answer) = raw(server, method.clone(), path, body.as_deref()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{method} {path} {body:?}: {answer}"
        );
    }
    let upload = server
        .request(Method::POST, "/v1/modules?name=hello%00")
        .header("content-type", "application/wasm")
        .body(std::fs::read(artifacts::HELLO).unwrap());
    let (status, answer) = server.send(upload).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) =
        raw(server, Method::POST, "/v1/jobs", Some(r#"{"module":"hello","stdin":"a\u0000b"}"#))
            .await;
    assert_eq!(status, 202, "NUL in text stdin is bytes: {answer}");
    // A call's string parameter may hold NUL (a WIT string can), and comes back whole.
    server.upload(artifacts::CALLS, "mathlib").await;
    let call = r#"{"module":"mathlib","call":"greet","params":["a\u0000b"]}"#;
    let (status, answer) = raw(server, Method::POST, "/v1/jobs", Some(call)).await;
    assert_eq!(status, 202, "NUL in a call's string parameter: {answer}");
    let job = server.wait(answer["id"].as_i64().unwrap()).await;
    assert_eq!(job["params"], json!(["a\u{0}b"]), "{job}");
    assert!(job["result"].as_str().is_some_and(|text| text.contains("a\u{0}b")), "{job}");
    let (_, schedules) = server.get("/v1/schedules").await;
    assert_eq!(schedules["schedules"], json!([]), "nothing was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_and_invalid_utf8_are_refused_with_400_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    nul_is_refused_everywhere(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_and_invalid_utf8_are_refused_with_400_on_postgres() {
    let url = postgres::shared().database();
    let (server, _data) = host(&url, "a", 1, &[]);
    nul_is_refused_everywhere(&server).await;
}

/// A cron expression of 8 KB is refused (it was kept and parsed by every host at every
/// round); so is a schedule's job of more than 8 KiB.
#[tokio::test(flavor = "multi_thread")]
async fn long_cron_expressions_and_large_schedule_jobs_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    // Valid to the parser: a list of every minute, again and again.
    let minutes = (0..60).map(|m| m.to_string()).collect::<Vec<_>>().join(",");
    let long = format!("{} * * * *", vec![minutes; 50].join(","));
    assert!(long.len() > 8000);
    let (status, answer) = server
        .post(
            "/v1/schedules",
            json!({ "name": "long", "cron": long, "job": { "module": "hello" } }),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("at most 1024"), "{answer}");
    let big = json!({ "module": "hello", "args": ["x".repeat(9000)] });
    let (status, answer) = server
        .post("/v1/schedules", json!({ "name": "big", "cron": "0 0 * * *", "job": big }))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("at most 8192"), "{answer}");
    let (status, _) = server
        .post(
            "/v1/schedules",
            json!({ "name": "ok", "cron": "0 0 * * *", "job": { "module": "hello" } }),
        )
        .await;
    assert_eq!(status, 201);
    let (status, answer) = server.patch("/v1/schedules/ok", json!({ "cron": long })).await;
    assert_eq!(status, 400, "{answer}");
    let (_, schedules) = server.get("/v1/schedules").await;
    assert_eq!(schedules["schedules"].as_array().unwrap().len(), 1, "{schedules}");
}

/// `serve --max-schedules 2`: a third schedule is 409 `too_many_schedules`.
#[tokio::test(flavor = "multi_thread")]
async fn the_number_of_schedules_is_capped() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--max-schedules", "2"]);
    server.upload(artifacts::HELLO, "hello").await;
    for name in ["one", "two"] {
        let (status, answer) = server
            .post(
                "/v1/schedules",
                json!({ "name": name, "cron": "0 0 * * *", "job": { "module": "hello" } }),
            )
            .await;
        assert_eq!(status, 201, "{answer}");
    }
    let (status, answer) = server
        .post(
            "/v1/schedules",
            json!({ "name": "three", "cron": "0 0 * * *", "job": { "module": "hello" } }),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("too_many_schedules")),
        "{answer}"
    );
    assert!(answer["error"]["message"].as_str().unwrap().contains("--max-schedules"), "{answer}");
}

/// A schedule's job naming a lane no host serves is refused as a submission is, at create
/// and at patch.
#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_for_a_lane_no_host_serves_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_lanes(&["default=1", "slow=1"], data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let job = json!({ "module": "hello", "lane": "gpu" });
    let (status, answer) =
        server.post("/v1/schedules", json!({ "name": "g", "cron": "* * * * *", "job": job })).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("unknown_lane")), "{answer}");
    let slow = json!({ "module": "hello", "lane": "slow" });
    let (status, answer) = server
        .post("/v1/schedules", json!({ "name": "s", "cron": "0 0 * * *", "job": slow }))
        .await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = server.patch("/v1/schedules/s", json!({ "job": job })).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("unknown_lane")), "{answer}");
}

/// On a cluster, a schedule's lane was served when it was made; once no live host serves it,
/// each tick records why it made no job instead of queueing one that never runs.
#[tokio::test(flavor = "multi_thread")]
async fn a_tick_for_a_lane_no_live_host_serves_records_why() {
    let url = postgres::shared().database();
    let data = tempfile::tempdir().unwrap();
    let gpu = Server::start_lanes(
        &["default=1", "gpu=1"],
        data.path(),
        &["--store", &url, "--node", "gpu"],
    );
    let (plain, _dp) = host(&url, "plain", 1, &[]);
    plain.upload(artifacts::HELLO, "hello").await;
    let job = json!({ "module": "hello", "lane": "gpu" });
    let (status, answer) = plain
        .post(
            "/v1/schedules",
            json!({ "name": "g", "cron": "* * * * * *", "job": job, "enabled": false }),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    gpu.terminate();
    let (status, _) = plain.patch("/v1/schedules/g", json!({ "enabled": true })).await;
    assert_eq!(status, 200);
    let deadline = tokio::time::Instant::now() + BOUND;
    let view = loop {
        let (_, view) = plain.get("/v1/schedules/g").await;
        if view["last_error"].is_string() {
            break view;
        }
        assert!(tokio::time::Instant::now() < deadline, "no tick recorded an error: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(view["last_error"].as_str().unwrap().contains("lane `gpu`"), "{view}");
    let (_, page) = plain.get("/v1/jobs?schedule=g").await;
    assert_eq!(page["jobs"], json!([]), "no job was queued for a lane nobody serves: {page}");
}

/// Concurrent bulk cancels and retries over the same jobs on PostgreSQL each answer 200:
/// never a 500 for a deadlock.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_bulk_actions_on_postgres_never_answer_500() {
    let url = postgres::shared().database();
    let (server, _data) = host(&url, "a", 1, &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let (status, _) = server.post("/v1/pool/pause", json!({})).await;
    assert_eq!(status, 200);
    for batch in 0..4 {
        let jobs = (0..500).map(|i| json!({ "module": "hello", "name": format!("j{batch}-{i}") }));
        server.submit_batch(jobs.collect()).await;
    }
    let filters = [
        json!({ "state": "queued" }),
        json!({ "module": "hello" }),
        json!({ "q": "j" }),
        json!({ "name": "j1-1" }),
        json!({ "submitted_after": "2000-01-01T00:00:00Z" }),
    ];
    for _round in 0..6 {
        let mut calls = Vec::new();
        for (i, filter) in filters.iter().enumerate() {
            let action = if i % 2 == 0 { "cancel" } else { "retry" };
            for path in [format!("/v1/jobs/{action}"), "/v1/jobs/cancel".to_string()] {
                let request = server.request(reqwest::Method::POST, &path).json(filter);
                calls.push(tokio::spawn(request.send()));
            }
        }
        for call in calls {
            let response = call.await.unwrap().expect("answers");
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            assert_eq!(status, 200, "{body}");
        }
        let (status, answer) = server.post("/v1/jobs/retry", json!({ "state": "cancelled" })).await;
        assert_eq!(status, 200, "{answer}");
    }
}

/// The deadlock itself, caused on purpose: the test's own transaction holds the newer of two
/// queued jobs, a bulk cancel locks the older and waits for the newer, then the test asks for
/// the older. PostgreSQL breaks the cycle by failing the transaction that waited first (its
/// deadlock check runs first), the bulk's: the service must try it again, not answer 500.
#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_action_that_loses_a_deadlock_is_tried_again() {
    use sqlx::Connection;
    let url = postgres::shared().database();
    let (server, _data) = host(&url, "a", 1, &[]);
    server.upload(artifacts::HELLO, "hello").await;
    assert_eq!(server.post("/v1/pool/pause", json!({})).await.0, 200);
    let ids = server.submit_batch(vec![Server::job("hello", &[]); 2]).await;
    let mut holder = sqlx::PgConnection::connect(&url).await.expect("connects");
    let mut watcher = sqlx::PgConnection::connect(&url).await.expect("connects");
    let lock = "SELECT id FROM jobs WHERE id = $1 FOR UPDATE";
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query(lock).bind(ids[1]).execute(&mut holder).await.unwrap();
    let cancel = server.request(reqwest::Method::POST, "/v1/jobs/cancel");
    let bulk = tokio::spawn(cancel.json(&json!({ "state": "queued" })).send());
    let waiting = "SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let deadline = tokio::time::Instant::now() + BOUND;
    while sqlx::query_scalar::<_, i64>(waiting).fetch_one(&mut watcher).await.unwrap() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the bulk cancel never waited");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Closes the cycle; returns once PostgreSQL has failed the bulk's transaction.
    let closed = sqlx::query(lock).bind(ids[0]).execute(&mut holder).await;
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    assert!(closed.is_ok(), "PostgreSQL failed the test's transaction, not the bulk's: {closed:?}");
    let response = bulk.await.unwrap().expect("answers");
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer, json!({ "matched": 2, "changed": 2 }));
}

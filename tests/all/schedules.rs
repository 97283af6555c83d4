//! Schedules on a real service: jobs made at every tick and naming their schedule, one job
//! per tick across two hosts on one PostgreSQL, no replay of ticks missed while stopped (the
//! most recent one with catch_up), pause and resume, refusals, a deleted module, the CLI.
//! Every wait is on jobs appearing, bounded; ticks are compared by their timestamps.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::harness::stdout;
use super::postgres;
use super::server::{Server, ok, verb};

/// How long a test waits for a schedule's jobs at most.
const BOUND: Duration = Duration::from_secs(60);

fn every_second(name: &str, module: &str) -> Value {
    json!({ "name": name, "cron": "*/1 * * * * *", "job": { "module": module } })
}

async fn create(server: &Server, schedule: Value) -> Value {
    let (status, created) = server.post("/v1/schedules", schedule.clone()).await;
    assert_eq!(status, 201, "{schedule}: {created}");
    created
}

async fn patch(server: &Server, name: &str, body: Value) -> (u16, Value) {
    let request = server.request(reqwest::Method::PATCH, &format!("/v1/schedules/{name}"));
    server.send(request.json(&body)).await
}

/// The jobs a schedule made, oldest tick first.
async fn jobs_of(server: &Server, name: &str) -> Vec<Value> {
    let (status, page) = server.get(&format!("/v1/jobs?schedule={name}&limit=1000")).await;
    assert_eq!(status, 200, "{page}");
    let mut jobs = page["jobs"].as_array().cloned().unwrap_or_default();
    jobs.reverse();
    jobs
}

/// Waits (bounded) until the schedule has made jobs that satisfy `enough`; returns them.
async fn wait_for_jobs(
    server: &Server,
    name: &str,
    enough: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let jobs = jobs_of(server, name).await;
        if enough(&jobs) {
            return jobs;
        }
        assert!(tokio::time::Instant::now() < deadline, "{name} made only {jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn time(text: &str) -> SystemTime {
    humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The tick each job was made for.
fn ticks(jobs: &[Value]) -> Vec<SystemTime> {
    jobs.iter().map(|job| time(job["scheduled_for"].as_str().expect("a tick"))).collect()
}

/// Checks that the jobs name `name`, and that their ticks are whole seconds, distinct, and
/// one second apart.
fn one_job_per_consecutive_second(jobs: &[Value], name: &str) {
    assert!(jobs.iter().all(|job| job["schedule"] == name), "{jobs:?}");
    let ticks = ticks(jobs);
    assert_eq!(ticks.iter().collect::<BTreeSet<_>>().len(), ticks.len(), "distinct: {ticks:?}");
    for tick in &ticks {
        let since = tick.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(since.subsec_nanos(), 0, "{tick:?}");
    }
    for pair in ticks.windows(2) {
        assert_eq!(pair[1].duration_since(pair[0]).unwrap(), Duration::from_secs(1), "{ticks:?}");
    }
}

/// The first whole second at least `ahead` from now, and its second of the minute.
fn second_ahead(ahead: Duration) -> (SystemTime, u64) {
    let at = (SystemTime::now() + ahead).duration_since(SystemTime::UNIX_EPOCH).unwrap();
    let second = at.as_secs() + 1;
    (SystemTime::UNIX_EPOCH + Duration::from_secs(second), second % 60)
}

/// Waits until the clock has passed `time`: the event itself (a tick coming), not a stand-in.
fn wait_until_passed(time: SystemTime) {
    if let Ok(left) = time.duration_since(SystemTime::now()) {
        std::thread::sleep(left + Duration::from_millis(50));
    }
    assert!(SystemTime::now() > time);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seconds_schedule_makes_one_job_per_tick_naming_it() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let other = server.submit(Server::job("hello", &[])).await;
    let created = create(&server, every_second("tick", "hello")).await;
    assert_eq!(created["timezone"], "UTC");
    assert_eq!(
        (created["enabled"].as_bool(), created["catch_up"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!((&created["last_run_at"], &created["last_job_id"]), (&Value::Null, &Value::Null));
    assert!(
        time(created["next_run_at"].as_str().unwrap())
            > time(created["created_at"].as_str().unwrap())
    );

    let jobs = wait_for_jobs(&server, "tick", |jobs| jobs.len() >= 4).await;
    one_job_per_consecutive_second(&jobs, "tick");
    assert!(jobs.iter().all(|job| job["id"] != other), "the filter holds only the schedule's");
    let first = server.wait(jobs[0]["id"].as_i64().unwrap()).await;
    assert_eq!(first["state"], "succeeded", "{first}");
    let (_, submitted) = server.get(&format!("/v1/jobs/{other}")).await;
    assert_eq!(submitted["schedule"], Value::Null);

    let (status, list) = server.get("/v1/schedules").await;
    assert_eq!(status, 200);
    let view = &list["schedules"][0];
    assert_eq!(view["name"], "tick");
    assert!(view["last_job_id"].as_i64().unwrap() >= jobs.last().unwrap()["id"].as_i64().unwrap());
    assert!(
        time(view["next_run_at"].as_str().unwrap()) > time(view["last_run_at"].as_str().unwrap())
    );
    assert_eq!(view["job"], json!({ "module": "hello", "args": [], "env": {} }));
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_stops_new_jobs_and_resume_starts_them_again() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    create(&server, every_second("paused", "hello")).await;
    // A witness that keeps running: ticks it made prove ticks came while the other was paused.
    create(&server, every_second("witness", "hello")).await;
    wait_for_jobs(&server, "paused", |jobs| !jobs.is_empty()).await;

    let (status, paused) = patch(&server, "paused", json!({ "enabled": false })).await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!((paused["enabled"].as_bool(), &paused["next_run_at"]), (Some(false), &Value::Null));
    let paused_at = SystemTime::now();
    wait_for_jobs(&server, "witness", |jobs| {
        ticks(jobs).iter().filter(|tick| **tick > paused_at).count() >= 3
    })
    .await;
    let made = ticks(&jobs_of(&server, "paused").await);
    assert!(made.iter().all(|tick| *tick <= paused_at), "made while paused: {made:?}");

    let resumed_at = SystemTime::now();
    let (status, resumed) = patch(&server, "paused", json!({ "enabled": true })).await;
    assert_eq!(status, 200, "{resumed}");
    assert!(resumed["next_run_at"].is_string());
    let jobs = wait_for_jobs(&server, "paused", |jobs| {
        ticks(jobs).iter().filter(|tick| **tick > resumed_at).count() >= 2
    })
    .await;
    let during = ticks(&jobs).into_iter().filter(|t| *t > paused_at && *t <= resumed_at).count();
    assert_eq!(during, 0, "ticks of the pause are not made after it");
}

/// Stops the server and returns when it had stopped.
fn stop(server: Server) -> SystemTime {
    assert!(server.terminate().success());
    SystemTime::now()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_makes_no_missed_tick_but_catch_up_makes_the_latest() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    // Two schedules that tick once a minute, at a second that comes while the server is
    // stopped; one catches up. And one every second, whose jobs after the restart prove the
    // new server has looked at every schedule.
    let (missed, second) = second_ahead(Duration::from_secs(6));
    let cron = format!("{second} * * * * *");
    for (name, catch_up) in [("skip", false), ("catch", true)] {
        let schedule = json!({ "name": name, "cron": cron, "catch_up": catch_up, "job": { "module": "hello" } });
        create(&server, schedule).await;
    }
    create(&server, every_second("every", "hello")).await;
    wait_for_jobs(&server, "every", |jobs| !jobs.is_empty()).await;
    let stopped = stop(server);
    assert!(stopped < missed, "stopped at {stopped:?}, after the tick {missed:?} it should miss");
    wait_until_passed(missed);

    let restarted = SystemTime::now();
    let server = Server::start(1, data.path(), &[]);
    let jobs =
        wait_for_jobs(&server, "every", |jobs| ticks(jobs).iter().any(|tick| *tick > restarted))
            .await;
    let replayed: Vec<_> =
        ticks(&jobs).into_iter().filter(|tick| *tick > stopped && *tick <= restarted).collect();
    assert!(replayed.is_empty(), "ticks missed while stopped were made: {replayed:?}");
    assert!(jobs_of(&server, "skip").await.is_empty(), "a missed tick was made");
    let (_, skip) = server.get("/v1/schedules/skip").await;
    assert_eq!(skip["last_run_at"], Value::Null);

    let caught = wait_for_jobs(&server, "catch", |jobs| !jobs.is_empty()).await;
    assert_eq!(ticks(&caught), [missed], "the most recent missed tick, once");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_on_one_postgres_make_one_job_per_tick() {
    let url = postgres::shared().database();
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start(1, data_a.path(), &["--store", url.as_str(), "--node", "a"]);
    let b = Server::start(1, data_b.path(), &["--store", url.as_str(), "--node", "b"]);
    a.upload(artifacts::HELLO, "hello").await;
    // Created through a; both hosts evaluate it (b hears of it through the database).
    create(&a, every_second("both", "hello")).await;
    let jobs = wait_for_jobs(&b, "both", |jobs| jobs.len() >= 6).await;
    one_job_per_consecutive_second(&jobs, "both");
    let (_, view) = b.get("/v1/schedules/both").await;
    assert!(view["last_job_id"].as_i64().is_some(), "{view}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_schedules_are_refused_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let good = json!({ "name": "ok", "cron": "*/5 * * * *", "job": { "module": "hello" } });
    let with = |field: &str, value: Value| {
        let mut schedule = good.clone();
        schedule[field] = value;
        schedule
    };
    for (schedule, says) in [
        (with("cron", json!("* * *")), "cron expression"),
        (with("cron", json!("61 * * * *")), "cron expression"),
        (with("cron", json!("")), "cron expression"),
        (with("timezone", json!("Mars/Olympus")), "timezone"),
        (with("job", json!({ "module": "nope" })), "job: no module `nope`"),
        (with("job", json!({ "module": "hello", "timeout_ms": 0 })), "job: timeout_ms"),
        (with("job", json!({ "module": "hello", "color": "red" })), "unknown field"),
        (with("name", json!("")), "schedule name"),
        (with("name", json!("-dash")), "schedule name"),
        (with("name", json!("a/b")), "schedule name"),
        (with("name", json!("x".repeat(65))), "schedule name"),
        (with("enabled", json!("yes")), "invalid JSON"),
        (json!({ "name": "ok", "cron": "* * * * *" }), "missing field `job`"),
    ] {
        let (status, body) = server.post("/v1/schedules", schedule.clone()).await;
        assert_eq!(status, 400, "{schedule}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{schedule}: {message}");
    }
    let (_, list) = server.get("/v1/schedules").await;
    assert_eq!(list, json!({ "schedules": [] }), "nothing was stored");

    create(&server, good.clone()).await;
    let (status, body) = server.post("/v1/schedules", good).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("schedule_exists")), "{body}");
    for (status, body) in [
        patch(&server, "ok", json!({})).await,
        patch(&server, "ok", json!({ "cron": "nope" })).await,
        patch(&server, "ok", json!({ "timezone": "Nowhere" })).await,
        patch(&server, "ok", json!({ "job": { "module": "nope" } })).await,
    ] {
        assert_eq!(status, 400, "{body}");
    }
    let (_, unchanged) = server.get("/v1/schedules/ok").await;
    assert_eq!(
        (unchanged["cron"].as_str(), unchanged["timezone"].as_str()),
        (Some("*/5 * * * *"), Some("UTC"))
    );
    let (status, _) = server.get("/v1/schedules/none").await;
    assert_eq!(status, 404);
    assert_eq!(patch(&server, "none", json!({ "enabled": false })).await.0, 404);
    let delete =
        |name: &str| server.request(reqwest::Method::DELETE, &format!("/v1/schedules/{name}"));
    assert_eq!(server.send(delete("none")).await.0, 404);
    assert_eq!(server.send(delete("ok")).await.0, 204);
    assert_eq!(server.send(delete("ok")).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_whose_module_was_deleted_records_why_it_made_no_job() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    server.upload(artifacts::ECHO, "gone").await;
    let mut schedule = every_second("orphan", "gone");
    schedule["enabled"] = json!(false);
    create(&server, schedule).await;
    let (status, _) =
        server.send(server.request(reqwest::Method::DELETE, "/v1/modules/gone")).await;
    assert_eq!(status, 204);
    assert_eq!(patch(&server, "orphan", json!({ "enabled": true })).await.0, 200);
    let deadline = tokio::time::Instant::now() + BOUND;
    let view = loop {
        let (_, view) = server.get("/v1/schedules/orphan").await;
        if view["last_run_at"].is_string() {
            break view;
        }
        assert!(tokio::time::Instant::now() < deadline, "no tick was handled: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(view["last_job_id"], Value::Null);
    assert!(view["last_error"].as_str().unwrap().contains("no module `gone`"), "{view}");
    assert!(jobs_of(&server, "orphan").await.is_empty());
    // The service carries on.
    let id = server.submit(Server::job("hello", &[])).await;
    assert_eq!(server.wait(id).await["state"], "succeeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_adds_lists_pauses_resumes_and_removes_schedules() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::ECHO, "echo").await;
    let added = ok(verb(
        &server,
        &[
            "schedule",
            "add",
            "tick",
            "--cron",
            "*/1 * * * * *",
            "--name",
            "from-cli",
            "echo",
            "a",
            "--b",
        ],
    ));
    assert!(added.starts_with("schedule tick added; next run at "), "{added}");
    let listed = ok(verb(&server, &["schedule", "ls"]));
    let lines: Vec<&str> = listed.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[1].starts_with("tick"), "{listed}");
    assert!(lines[1].contains("*/1 * * * * *") && lines[1].contains("active"), "{listed}");
    let json: Value =
        serde_json::from_str(&ok(verb(&server, &["--json", "schedule", "ls"]))).unwrap();
    assert_eq!(
        json["schedules"][0]["job"],
        json!({ "module": "echo", "args": ["a", "--b"], "env": {}, "name": "from-cli" })
    );

    let jobs = wait_for_jobs(&server, "tick", |jobs| !jobs.is_empty()).await;
    assert_eq!(jobs[0]["name"], "from-cli");
    let listed = ok(verb(&server, &["jobs", "--schedule", "tick"]));
    assert!(listed.contains(&jobs[0]["id"].to_string()), "{listed}");
    let paused = ok(verb(&server, &["schedule", "pause", "tick"]));
    assert_eq!(paused.trim(), "schedule tick paused; no run while paused");
    assert!(ok(verb(&server, &["schedule", "ls"])).contains("paused"));
    let resumed = ok(verb(&server, &["schedule", "resume", "tick"]));
    assert!(resumed.starts_with("schedule tick resumed; next run at "), "{resumed}");
    assert_eq!(ok(verb(&server, &["schedule", "rm", "tick"])).trim(), "schedule tick removed");

    let gone = verb(&server, &["schedule", "rm", "tick"]);
    assert_eq!(gone.status.code(), Some(1));
    let bad = verb(&server, &["schedule", "add", "bad", "--cron", "* * *", "echo"]);
    assert_eq!(bad.status.code(), Some(1), "{}", stdout(&bad));
    assert!(
        super::harness::stderr(&bad).contains("cron expression"),
        "{}",
        super::harness::stderr(&bad)
    );
    let taken =
        verb(&server, &["schedule", "add", "--paused", "twice", "--cron", "0 * * * *", "echo"]);
    ok(taken);
    let again = verb(&server, &["schedule", "add", "twice", "--cron", "0 * * * *", "echo"]);
    assert!(super::harness::stderr(&again).contains("schedule_exists"));
}

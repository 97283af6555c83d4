//! The habits newcomers bring from the tools they know (issue 25): GNU parallel's `-j`,
//! `--dry-run` and `--eta` for `map`; `kubectl`'s `logs --tail` and relative times; an ERROR
//! column in `jobs`; and plain words when queues are looked for where there are none.

use serde_json::json;

use super::harness::{output, stderr, stdout, wasmpool};
use super::server::{Server, ok, verb};

#[test]
fn map_takes_j_as_parallel_does_and_a_dry_run_runs_nothing() {
    let out = output(&["map", "-j", "2", artifacts::EXIT_CODE, "0", "0", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("3 jobs on 2 workers"), "{}", stderr(&out));

    // A dry run prints each job's command line; an exit code of 3 would fail the map.
    let out = output(&["map", "--dry-run", artifacts::EXIT_CODE, "-c", "{}", ":::", "3", "a b"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let program = std::path::Path::new(artifacts::EXIT_CODE).file_name().unwrap();
    let program = program.to_str().unwrap();
    let expected = format!("0\t{program} -c 3\n1\t{program} -c 'a b'\n");
    assert_eq!(stdout(&out), expected);
    assert!(!stderr(&out).contains("jobs on"), "nothing ran: {}", stderr(&out));
}

#[test]
fn map_eta_prints_the_time_left_on_stderr_only_when_asked() {
    let out = output(&["map", "--eta", "-j", "1", artifacts::EXIT_CODE, "0", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("map: 1/2 jobs done") && said.contains("eta "), "{said}");
    assert!(!stdout(&out).contains("eta"), "progress never goes to stdout");
    let quiet = output(&["map", "-j", "1", artifacts::EXIT_CODE, "0", "0"]);
    assert!(!stderr(&quiet).contains("eta"), "not asked: {}", stderr(&quiet));
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_shows_why_a_job_failed_and_logs_tail_prints_the_last_lines() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::EXIT_CODE, "exit").await;
    server.upload(artifacts::ECHO, "echo").await;
    let failed = server.submit(Server::job("exit", &["3"])).await;
    let failed = server.wait(failed).await;
    let reason = failed["error"].as_str().expect("a failed job says why").to_string();
    let listed = ok(verb(&server, &["jobs", "--state", "failed", "--since", "1h"]));
    let header = listed.lines().next().unwrap();
    assert!(header.ends_with("ERROR"), "{listed}");
    let start: String = reason.chars().take(20).collect();
    assert!(listed.lines().nth(1).unwrap().contains(&start), "{reason} in {listed}");
    let none = ok(verb(&server, &["jobs", "--state", "failed", "--submitted-before", "1h"]));
    assert_eq!(none.lines().count(), 1, "nothing submitted over an hour ago: {none}");

    let mut job = Server::job("echo", &[]);
    job["stdin"] = json!("one\ntwo\nthree\nfour\n");
    let id = server.submit(job).await;
    server.wait(id).await;
    let id = id.to_string();
    assert_eq!(ok(verb(&server, &["logs", "--tail", "2", &id])), "three\nfour\n");
    assert_eq!(ok(verb(&server, &["logs", &id])), "one\ntwo\nthree\nfour\n");
}

#[test]
fn queues_looked_for_without_a_service_name_serve() {
    // Nothing listens on port 9 of loopback.
    let out = wasmpool(&["--server", "http://127.0.0.1:9", "queue", "ls"]).output().unwrap();
    assert_eq!(out.status.code(), Some(69));
    assert!(stderr(&out).contains("`wasmpool serve`"), "{}", stderr(&out));

    let out = output(&["run", artifacts::QUEUE_WRITER, "letters"]);
    assert_ne!(out.status.code(), Some(0), "the put fails");
    let said = stderr(&out);
    assert!(said.contains("named queues exist only under `wasmpool serve`"), "{said}");
}

/// Sidekiq's "run now": the schedule's job at once, not counted as a tick, by API and CLI.
#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_runs_now_without_a_tick() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let schedule = json!({ "name": "nightly", "cron": "0 3 * * *", "enabled": false,
                           "job": Server::job("hello", &[]) });
    assert_eq!(server.post("/v1/schedules", schedule).await.0, 201);

    let (status, accepted) = server.post("/v1/schedules/nightly/run", json!({})).await;
    assert_eq!(status, 202, "{accepted}");
    let job = server.wait(accepted["id"].as_i64().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let (_, nightly) = server.get("/v1/schedules/nightly").await;
    assert!(nightly["last_run_at"].is_null(), "not a tick: {nightly}");
    assert_eq!(nightly["enabled"], false, "still paused");

    let printed = ok(verb(&server, &["schedule", "run", "nightly"]));
    let id: i64 = printed.trim().parse().expect("the job's id");
    assert_eq!(server.wait(id).await["state"], "succeeded");
    let (status, body) = server.post("/v1/schedules/none/run", json!({})).await;
    assert_eq!(status, 404, "{body}");
}

/// Sidekiq's queue pages: a named queue's oldest items looked at without taking them, then
/// the queue emptied, by API and CLI.
#[tokio::test(flavor = "multi_thread")]
async fn a_queue_is_peeked_at_without_taking_and_purged() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let long = "x".repeat(300);
    for item in ["first", "second", long.as_str()] {
        let put = server
            .request(reqwest::Method::POST, "/v1/queues/tasks")
            .header("content-type", "application/octet-stream")
            .body(item.to_string());
        assert_eq!(server.send(put).await.0, 201);
    }
    let (status, peeked) = server.get("/v1/queues/tasks/items?limit=2").await;
    assert_eq!(status, 200, "{peeked}");
    let previews: Vec<&str> = peeked["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["preview"].as_str().unwrap())
        .collect();
    assert_eq!((previews, &peeked["length"]), (vec!["first", "second"], &json!(3)));
    let (_, all) = server.get("/v1/queues/tasks/items?limit=100").await;
    let third = &all["items"][2];
    assert_eq!((&third["size"], &third["truncated"]), (&json!(300), &json!(true)), "{third}");
    assert_eq!(third["preview"].as_str().unwrap().len(), 256, "a bounded preview");
    assert_eq!(server.get("/v1/queues").await.1[0]["length"], 3, "nothing was taken");
    assert_eq!(server.get("/v1/queues/tasks/items?limit=0").await.0, 400);
    assert_eq!(server.get("/v1/queues/bad%20name/items").await.0, 400);
    // An empty item is zero bytes, not a server error.
    let empty = server
        .request(reqwest::Method::POST, "/v1/queues/blank")
        .header("content-type", "application/octet-stream");
    assert_eq!(server.send(empty).await.0, 201);
    let (status, blank) = server.get("/v1/queues/blank/items").await;
    assert_eq!((status, &blank["items"][0]["size"]), (200, &json!(0)), "{blank}");
    assert_eq!(blank["items"][0]["preview"], "", "{blank}");
    let purge = server.request(reqwest::Method::DELETE, "/v1/queues/blank");
    assert_eq!(server.send(purge).await.0, 200);

    let out = ok(verb(&server, &["queue", "peek", "-n", "1", "tasks"]));
    assert!(out.contains("first") && !out.contains("second"), "{out}");
    assert!(out.ends_with("tasks: 3 item(s) in all\n"), "{out}");

    let purge = server.request(reqwest::Method::DELETE, "/v1/queues/tasks");
    assert_eq!(server.send(purge).await, (200, json!({ "name": "tasks", "removed": 3 })));
    assert_eq!(server.get("/v1/queues").await.1, json!([]), "the queue is empty");
    assert_eq!(ok(verb(&server, &["queue", "purge", "tasks"])), "tasks: 0 item(s) removed\n");
}

/// `kubectl get --watch`: the list drawn again when a job is submitted (heard on the event
/// stream), and a reader that goes away ends the command quietly.
#[tokio::test(flavor = "multi_thread")]
async fn jobs_watch_redraws_on_change_and_ends_when_its_reader_goes() {
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let mut child = wasmpool(&["jobs", "--watch"])
        .env("WASMPOOL_SERVER", &server.url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, seen) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        // Reads until told to stop by a closed channel: then drops the pipe.
        while stdout.read_line(&mut line).is_ok_and(|n| n > 0) {
            if lines.send(std::mem::take(&mut line)).is_err() {
                return;
            }
        }
    });
    let wait_for = |what: &dyn Fn(&str) -> bool| loop {
        let line = seen.recv_timeout(Duration::from_secs(10)).expect("a drawing within 10 s");
        if what(&line) {
            return;
        }
    };
    wait_for(&|line| line.starts_with("ID "));
    let id = server.submit(Server::job("hello", &[])).await.to_string();
    wait_for(&|line| line.split_whitespace().next() == Some(id.as_str()));

    // The reader leaves at the next drawing; the drawing after that meets a closed pipe.
    drop(seen);
    server.submit(Server::job("hello", &[])).await;
    reader.join().unwrap();
    server.submit(Server::job("hello", &[])).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "jobs --watch still runs after its reader left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0));
}

//! A job's output while it runs: `GET /v1/jobs/{id}/output` (so far, and followed) and
//! `wasmpool logs [-f]`. Each test holds its guest at a known point (blocked on a queue get
//! the test feeds, or in a long sleep) so "before the next line exists" is a fact, not a race.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use super::harness::wasmpool;
use super::server::Server;

/// How long any one expected event may take.
const BOUND: Duration = Duration::from_secs(30);

/// `wasmpool logs ARGS` against the server, its stdout lines delivered on a channel as they
/// come.
fn logs(server: &Server, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut command = wasmpool(&["logs", "--server", &server.url]);
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasmpool logs starts");
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { return };
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    (child, received)
}

/// Waits (bounded) for the child to exit; returns its status code and stderr.
fn finish(mut child: Child) -> (Option<i32>, String) {
    for _ in 0..(BOUND.as_millis() / 10) {
        if let Some(status) = child.try_wait().expect("try_wait") {
            let mut stderr = String::new();
            child.stderr.take().expect("piped").read_to_string(&mut stderr).expect("stderr");
            return (status.code(), stderr);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    panic!("wasmpool logs did not exit within {BOUND:?}");
}

/// A followed output response, read chunk by chunk.
struct Followed {
    response: reqwest::Response,
    text: String,
}

impl Followed {
    async fn open(server: &Server, id: i64, query: &str) -> Followed {
        let path = format!("/v1/jobs/{id}/output?follow=true{query}");
        let response = server.request(reqwest::Method::GET, &path).send().await.expect("answers");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
        Followed { response, text: String::new() }
    }

    /// Reads until the text so far contains `wanted` (bounded).
    async fn until(&mut self, wanted: &str) {
        while !self.text.contains(wanted) {
            let chunk = tokio::time::timeout(BOUND, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no {wanted:?} within {BOUND:?}; got {:?}", self.text))
                .expect("the stream reads")
                .unwrap_or_else(|| panic!("the stream ended before {wanted:?}: {:?}", self.text));
            self.text.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// Reads to the end of the response (bounded).
    async fn read_to_end(mut self) -> String {
        loop {
            let chunk = tokio::time::timeout(BOUND, self.response.chunk())
                .await
                .expect("the stream ends when the job ends")
                .expect("the stream reads");
            match chunk {
                Some(chunk) => self.text.push_str(std::str::from_utf8(&chunk).expect("UTF-8")),
                None => return self.text,
            }
        }
    }
}

/// Puts `item` on the named queue through the API.
pub(super) async fn put(server: &Server, queue: &str, item: &str) {
    let request = server
        .request(reqwest::Method::POST, &format!("/v1/queues/{queue}"))
        .header("content-type", "application/octet-stream")
        .body(item.to_string());
    let (status, body) = server.send(request).await;
    assert_eq!(status, 201, "{body}");
}

async fn output_now(server: &Server, id: i64, query: &str) -> String {
    let path = format!("/v1/jobs/{id}/output{query}");
    let response = server.request(reqwest::Method::GET, &path).send().await.expect("answers");
    assert_eq!(response.status(), 200);
    response.text().await.expect("a body")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_jobs_output_is_seen_line_by_line_before_it_ends() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::QUEUE_READER, "queue-reader").await;
    // Prints a line, then blocks on the queue `gate` until this test puts an item there.
    let id = server.submit(json!({ "module": "queue-reader", "args": ["gate", "60000"] })).await;
    let (logs_f, lines) = logs(&server, &["-f", &id.to_string()]);
    let mut followed = Followed::open(&server, id, "&stream=stdout").await;

    let first = lines.recv_timeout(BOUND).expect("`logs -f` prints the first line while it runs");
    assert!(first.starts_with("Process to read: "), "{first:?}");
    followed.until("Process to read: ").await;
    let (_, job) = server.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(job["state"], "running", "the guest waits on the gate: {job}");
    assert_eq!(job["stdout"], "", "the stored result does not exist yet: {job}");
    assert_eq!(output_now(&server, id, "").await, format!("{first}\n"), "the output so far");

    put(&server, "gate", "one").await;
    let second = lines.recv_timeout(BOUND).expect("the second line follows");
    assert_eq!(second, "Get one from queue.");
    followed.until("Get one from queue.\n").await;

    put(&server, "gate", "END").await;
    let (code, stderr) = finish(logs_f);
    assert_eq!(code, Some(0), "`logs -f` exits 0 when the job ends: {stderr}");
    assert!(lines.recv_timeout(BOUND).is_err(), "nothing more was printed");
    let streamed = followed.read_to_end().await;
    let job = server.wait(id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(streamed, job["stdout"].as_str().unwrap(), "the stream is the stored output");
    assert_eq!(output_now(&server, id, "?stream=stdout").await, streamed);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_task_shows_its_first_line_while_it_sleeps() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::LONG_TIME_TASK, "long-time-task").await;
    let sleep_a_minute =
        json!({ "LONG_TIME_TASK_MIN_MS": "60000", "LONG_TIME_TASK_MAX_MS": "60001" });
    let job = json!({ "module": "long-time-task", "args": ["7"], "env": sleep_a_minute });
    let id = server.submit(job).await;
    let mut followed = Followed::open(&server, id, "").await;
    followed.until("Run task 7").await;
    let (_, job) = server.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(job["state"], "running", "{job}");
    // Cancelling ends the job, and so the stream, with what the task had written.
    let (status, _) =
        server.send(server.request(reqwest::Method::DELETE, &format!("/v1/jobs/{id}"))).await;
    assert_eq!(status, 200);
    let text = followed.read_to_end().await;
    assert!(text.starts_with("Run task 7 (") && !text.contains("runs"), "{text:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_puts_stdout_and_stderr_apart_and_exits_0_whatever_the_job_did() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::QUEUE_READER, "queue-reader").await;
    // Nothing in the queue and no wait: it says so on stderr and exits 1.
    let id = server.submit(json!({ "module": "queue-reader", "args": ["empty", "0"] })).await;
    for args in [vec!["-f"], vec![]] {
        let mut command = wasmpool(&["logs", "--server", &server.url]);
        let output = command.args(&args).arg(id.to_string()).output().expect("runs");
        let (stdout, stderr) = (super::harness::stdout(&output), super::harness::stderr(&output));
        assert_eq!(output.status.code(), Some(0), "logs {args:?}: {stderr}");
        assert!(
            stdout.starts_with("Process to read: ") && !stdout.contains("nothing"),
            "{stdout:?}"
        );
        assert_eq!(stderr, "queue-reader: nothing arrived within 0 ms\n");
    }
    let job = server.wait(id).await;
    assert_eq!(job["exit_code"], 1, "{job}");
    let both = output_now(&server, id, "?stream=both").await;
    assert_eq!(
        both,
        format!("{}{}", job["stdout"].as_str().unwrap(), job["stderr"].as_str().unwrap())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn output_of_an_unknown_job_or_stream_is_a_json_error() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let (status, body) = server.get("/v1/jobs/99/output?follow=true").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    server.upload(artifacts::HELLO, "hello").await;
    let id = server.submit(Server::job("hello", &[])).await;
    let (status, body) = server.get(&format!("/v1/jobs/{id}/output?stream=stdin")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
    let output = wasmpool(&["logs", "--server", &server.url, "99"]).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(super::harness::stderr(&output).contains("no job 99"));
}

/// Two hosts on one PostgreSQL: host a does not see the output of a job running on host b
/// live, but a reader following it on a gets all of it when the job ends.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_running_on_another_host_is_followed_to_its_end() {
    let url = super::postgres::shared().database();
    let host = |name: &str, data: &std::path::Path| {
        Server::start(1, data, &["--store", &url, "--node", name])
    };
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = host("b", data_b.path());
    b.upload(artifacts::QUEUE_READER, "queue-reader").await;
    let id = b.submit(json!({ "module": "queue-reader", "args": ["far-gate", "60000"] })).await;
    let job = b.wait_for_worker(id).await;
    assert_eq!(job["node"], "b", "{job}");
    // Only now does a exist, so the job cannot be running there.
    let a = host("a", data_a.path());
    let followed = Followed::open(&a, id, "").await;
    assert_eq!(output_now(&a, id, "").await, "", "a sees nothing of it while it runs");
    put(&a, "far-gate", "END").await;
    let text = followed.read_to_end().await;
    let job = a.wait(id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(text.starts_with("Process to read: "), "{text:?}");
    assert_eq!(text, job["stdout"].as_str().unwrap());
}

//! The client verbs against a real `wasmpool serve`: what they print and how they exit.

use serde_json::Value;

use super::harness::{output_with_stdin, stderr, stdout, wasmpool};
use super::server::{Server, ok, verb};

#[tokio::test(flavor = "multi_thread")]
async fn upload_submit_wait_status_jobs() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    let line = ok(verb(&server, &["upload", "--name", "exit-code", artifacts::EXIT_CODE]));
    assert!(line.contains("module") && line.contains("exit-code"), "{line}");
    assert!(ok(verb(&server, &["modules"])).contains("exit-code"));

    let id = ok(verb(&server, &["submit", "exit-code", "7"])).trim().to_string();
    assert!(id.parse::<i64>().is_ok(), "submit prints the id: {id:?}");
    let waited = verb(&server, &["wait", &id]);
    assert_eq!(waited.status.code(), Some(7), "wait exits with the job's exit code");
    assert_eq!(stdout(&waited), "exiting with 7\n");

    let status: Value =
        serde_json::from_str(&ok(verb(&server, &["status", "--json", &id]))).unwrap();
    assert_eq!(status["state"], "failed");
    assert_eq!(status["exit_code"], 7);
    assert!(ok(verb(&server, &["status", &id])).contains("failed"));
    let listing = ok(verb(&server, &["jobs", "--state", "failed"]));
    assert!(listing.lines().any(|l| l.split_whitespace().next() == Some(id.as_str())), "{listing}");
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_a_file_with_stdin_and_wait_for_it() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let mut submit = wasmpool(&["submit", "--stdin", "-", "--wait", artifacts::ECHO]);
    submit.env("WASMPOOL_SERVER", &server.url);
    assert_eq!(ok(output_with_stdin(submit, b"through the service\n")), "through the service\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timed_out_job_makes_wait_exit_124() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let out = verb(&server, &["submit", "--timeout", "300ms", "--wait", artifacts::SPIN]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_cancel_and_resume_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    ok(verb(&server, &["upload", "--name", "hello", artifacts::HELLO]));
    ok(verb(&server, &["pool", "pause"]));
    let pool: Value = serde_json::from_str(&ok(verb(&server, &["pool", "--json"]))).unwrap();
    assert_eq!(pool["paused"], true);
    let id = ok(verb(&server, &["submit", "hello"])).trim().to_string();
    assert_eq!(ok(verb(&server, &["cancel", &id])).trim(), format!("{id} cancelled"));
    ok(verb(&server, &["pool", "resume"]));
    let id = ok(verb(&server, &["submit", "hello"])).trim().to_string();
    assert_eq!(ok(verb(&server, &["wait", &id])), "Hello from wasmpool!\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_have_exit_codes_scripts_can_rely_on() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--token", "tok-123"]);
    let refused = verb(&server, &["jobs"]);
    assert_eq!(refused.status.code(), Some(1), "a 401 is the service answering with an error");
    assert!(stderr(&refused).contains("unauthorized"), "{}", stderr(&refused));
    let missing = verb(&server, &["status", "--token", "tok-123", "424242"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no job 424242"), "{}", stderr(&missing));
    let listing = wasmpool(&["jobs"])
        .env("WASMPOOL_SERVER", &server.url)
        .env("WASMPOOL_TOKEN", "tok-123")
        .output()
        .unwrap();
    assert_eq!(listing.status.code(), Some(0), "{}", stderr(&listing));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = wasmpool(&["pool", "--server", &url]).output().unwrap();
    assert_eq!(unreachable.status.code(), Some(69));
    assert!(stderr(&unreachable).contains("not reachable"), "{}", stderr(&unreachable));
}

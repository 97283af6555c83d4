//! What `serve` logs: a line per request and per job transition at its default level, as text
//! without colour codes when stderr is not a terminal, or as JSON lines.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::server::Server;

/// Reads log lines until `done` holds for the lines so far (bounded); returns them all.
fn read_until(log: &Receiver<String>, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    while !done(&lines) {
        let left = deadline.saturating_duration_since(Instant::now());
        match log.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => panic!("the log never had what was expected; it had:\n{}", lines.join("\n")),
        }
    }
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_have_a_line_per_request_and_per_job_transition() {
    let data = tempfile::tempdir().unwrap();
    let (server, log) = Server::start_logged(1, data.path(), &["--log-format", "json"]);
    server.upload(artifacts::HELLO, "hello").await;
    let id = server.submit(Server::job("hello", &[])).await;
    assert_eq!(server.wait(id).await["state"], "succeeded");
    assert_eq!(server.get("/v1/jobs/987654").await.0, 404);

    let events = |lines: &[String]| -> Vec<Value> {
        let parse = |line: &String| serde_json::from_str::<Value>(line);
        lines.iter().map(|line| parse(line).unwrap_or_else(|e| panic!("{e}: {line:?}"))).collect()
    };
    let is = |event: &Value, message: &str| event["message"] == message && event["job"] == id;
    let missing_404 =
        |event: &Value| event["path"] == "/v1/jobs/987654" && event["message"] == "answered";
    let lines = read_until(&log, |lines| {
        let events = events(lines);
        events.iter().any(|e| is(e, "job ended")) && events.iter().any(missing_404)
    });
    let events = events(&lines);
    let answered: Vec<&Value> = events.iter().filter(|e| missing_404(e)).collect();
    assert_eq!(answered.len(), 1, "one line for the request: {answered:?}");
    assert_eq!(
        (answered[0]["method"].as_str(), answered[0]["status"].as_u64()),
        (Some("GET"), Some(404))
    );
    assert_eq!(answered[0]["level"], "INFO");
    assert!(answered[0]["ms"].is_number(), "{}", answered[0]);
    for (message, state) in
        [("job submitted", "queued"), ("job started", "running"), ("job ended", "succeeded")]
    {
        let event =
            events.iter().find(|e| is(e, message)).unwrap_or_else(|| panic!("no {message:?} line"));
        assert_eq!(event["state"], state, "{event}");
        if message != "job submitted" {
            assert_eq!(event["attempt"], 1, "{event}");
        }
    }
    let ended = events.iter().find(|e| is(e, "job ended")).unwrap();
    assert_eq!(ended["exit_code"], 0, "{ended}");
    assert!(ended["ms"].is_number(), "{ended}");
}

#[tokio::test(flavor = "multi_thread")]
async fn text_logs_to_a_pipe_have_no_colour_codes_and_no_token() {
    let data = tempfile::tempdir().unwrap();
    let token = "log-test-token-5551";
    let (server, log) = Server::start_logged(1, data.path(), &["--token", token]);
    let (status, _) = server.get("/v1/jobs?limit=5").await;
    assert_eq!(status, 200);
    let lines =
        read_until(&log, |lines| lines.iter().any(|line| line.contains("path=\"/v1/jobs\"")));
    let line = lines.iter().find(|line| line.contains("path=\"/v1/jobs\"")).unwrap();
    assert!(
        line.contains("INFO") && line.contains("method=GET") && line.contains("status=200"),
        "{line}"
    );
    assert!(!line.contains("limit=5"), "the query is not logged: {line}");
    for line in &lines {
        assert!(!line.contains('\x1b'), "a colour code in {line:?}");
        assert!(!line.contains(token), "the token in {line:?}");
    }
}

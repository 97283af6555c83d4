//! Issue 26's first finding: a listing of jobs whose guests wrote their whole output cap costs
//! little (a few hundred bytes a job, no growth of the host's memory), on both stores; the
//! whole job stays at `GET /v1/jobs/{id}`; and the dashboard's bulk confirmation counts with a
//! dry run instead of paging through jobs.

use serde_json::{Value, json};

use super::postgres;
use super::server::Server;

/// What each guest writes to stdout and to stderr: twice the default output cap (1 MiB), so
/// each job keeps the cap and is marked cut.
const FLOOD: u64 = 2 << 20;

/// The default output cap.
const CAP: u64 = 1 << 20;

/// Jobs at the cap: enough that listing their output whole would cost hundreds of MB.
const JOBS: usize = 40;

/// A listing answers at most this many bytes a job (ids, times, sizes, short previews).
const BYTES_PER_JOB: usize = 1200;

/// Runs `JOBS` jobs that each write `FLOOD` bytes to stdout and to stderr; returns their ids.
async fn flooded(server: &Server) -> Vec<i64> {
    server.upload(artifacts::PROBE, "probe").await;
    let job = Server::job("probe", &["flood", &FLOOD.to_string()]);
    let ids = server.submit_batch(vec![job; JOBS]).await;
    for &id in &ids {
        assert_eq!(server.wait(id).await["state"], "succeeded");
    }
    ids
}

/// The server's resident and peak resident memory in bytes (`VmRSS`, `VmHWM`).
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        let line = status.lines().find(|line| line.starts_with(name)).expect("field");
        let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("kB");
        kib * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Starts counting the server's peak memory from now (writing 5 to `clear_refs` resets
/// `VmHWM` to the current resident size).
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("clear_refs");
}

/// Lists the jobs at the cap as the dashboard and the bulk confirmation did (pages of 50 and
/// 1000, two at once) and checks what each answer carries and what the host spent.
async fn listings_stay_small(server: &Server, ids: &[i64]) {
    let (rss_before, _) = memory(server.pid());
    reset_peak(server.pid());
    for _ in 0..3 {
        let pages = futures_util::future::join_all(
            ["/v1/jobs?limit=1000", "/v1/jobs?limit=50", "/v1/jobs?limit=1000&state=succeeded"]
                .map(|path| page_of(server, path)),
        )
        .await;
        for (text, page) in pages {
            let jobs = page["jobs"].as_array().expect("jobs");
            assert_eq!(jobs.len(), ids.len(), "every job listed");
            assert!(
                text.len() <= BYTES_PER_JOB * jobs.len(),
                "a page of {} jobs at the output cap is {} bytes",
                jobs.len(),
                text.len()
            );
            for job in jobs {
                assert_eq!(job["stdout_bytes"], CAP, "{job}");
                assert_eq!(job["stderr_bytes"], CAP, "{job}");
                assert_eq!(
                    (&job["stdout_truncated"], &job["stderr_truncated"]),
                    (&json!(true), &json!(true))
                );
                assert_eq!(job["args_preview"], format!("flood {FLOOD}"));
                for field in ["stdout", "stderr", "stdout_base64", "stdin", "env", "args"] {
                    assert!(job.get(field).is_none(), "a listing carries no {field}: {job}");
                }
            }
        }
    }
    let (_, peak) = memory(server.pid());
    let grown = peak.saturating_sub(rss_before);
    assert!(
        grown < 64 << 20,
        "nine listings of {} jobs at the output cap raised the host's peak memory by {} MiB",
        ids.len(),
        grown >> 20
    );
    // The whole job is still one request away.
    let (status, whole) = server.get(&format!("/v1/jobs/{}", ids[0])).await;
    assert_eq!(status, 200);
    assert_eq!(whole["stdout"].as_str().map(str::len), Some(CAP as usize));
    assert_eq!(whole["stderr"].as_str().map(str::len), Some(CAP as usize));
}

/// One page: its body as sent and as JSON.
async fn page_of(server: &Server, path: &str) -> (String, Value) {
    let response =
        server.request(reqwest::Method::GET, path).send().await.expect("the server answers");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    let text = response.text().await.expect("a body");
    let page = serde_json::from_str(&text).expect("JSON");
    (text, page)
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_jobs_at_the_output_cap_costs_little_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    let ids = flooded(&server).await;
    listings_stay_small(&server, &ids).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_jobs_at_the_output_cap_costs_little_on_postgres() {
    let data = tempfile::tempdir().unwrap();
    let url = postgres::shared().database();
    let server = Server::start(2, data.path(), &["--store", &url]);
    let ids = flooded(&server).await;
    listings_stay_small(&server, &ids).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_cuts_long_arguments_and_errors_short() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::PROBE, "probe").await;
    // 300 arguments of 1,000 characters: the request is 300 kB, its listing a line.
    let long = "x".repeat(1000);
    let args: Vec<&str> =
        std::iter::once("args").chain(std::iter::repeat_n(long.as_str(), 300)).collect();
    let id = server.submit(json!({ "module": "probe", "args": args, "name": "long" })).await;
    server.wait(id).await;
    let (_, page) = server.get("/v1/jobs?name=long").await;
    let preview = page["jobs"][0]["args_preview"].as_str().expect("a preview").to_string();
    assert_eq!(preview.chars().count(), 200, "{preview}");
    assert!(preview.starts_with("args xxx") && preview.ends_with('…'), "{preview}");
    let (_, whole) = server.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(whole["args"].as_array().map(Vec::len), Some(301), "the job keeps every argument");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_dry_run_counts_and_changes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::EXIT_CODE, "exit").await;
    server.upload(artifacts::HELLO, "hello").await;
    let failed = server.submit_batch(vec![Server::job("exit", &["3"]); 3]).await;
    let succeeded = server.submit_batch(vec![Server::job("hello", &[]); 2]).await;
    for &id in failed.iter().chain(&succeeded) {
        server.wait(id).await;
    }
    let since = json!({ "submitted_after": "2000-01-01T00:00:00Z", "dry_run": true });
    let (status, answer) = server.post("/v1/jobs/retry", since.clone()).await;
    assert_eq!((status, answer), (200, json!({ "matched": 5, "changed": 3 })));
    let (status, answer) = server.post("/v1/jobs/cancel", since).await;
    assert_eq!((status, answer), (200, json!({ "matched": 5, "changed": 0 })));
    for &id in &failed {
        let (_, job) = server.get(&format!("/v1/jobs/{id}")).await;
        assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("failed"), Some(1)));
    }
    // A dry run is still refused an empty filter.
    let (status, _) = server.post("/v1/jobs/retry", json!({ "dry_run": true })).await;
    assert_eq!(status, 400);
}

//! `POST /v1/jobs/wait`: one request waits on many jobs, answers as soon as one ends with
//! every ended one (what a client needs to give back results and failures), keeps its answer
//! within a size bound, and times out with none; on both stores (bad input: `bad_input`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::postgres;
use super::server::Server;

async fn wait_on(server: &Server, ids: &[i64], timeout_ms: u64) -> Value {
    let (status, answer) =
        server.post("/v1/jobs/wait", json!({ "ids": ids, "timeout_ms": timeout_ms })).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn ended_ids(answer: &Value) -> Vec<i64> {
    answer["ended"].as_array().unwrap().iter().map(|job| job["id"].as_i64().unwrap()).collect()
}

/// Collects the ends of `ids`, asking again with the ids not answered yet; returns every
/// end and how many requests it took.
async fn collect(server: &Server, ids: &[i64]) -> (Vec<Value>, usize) {
    let mut left: Vec<i64> = ids.to_vec();
    let (mut ends, mut requests) = (Vec::new(), 0);
    while !left.is_empty() {
        assert!(requests < 200, "the ends of {ids:?} never all came");
        let answer = wait_on(server, &left, 10_000).await;
        requests += 1;
        let got = ended_ids(&answer);
        left.retain(|id| !got.contains(id));
        ends.extend(answer["ended"].as_array().unwrap().iter().cloned());
    }
    (ends, requests)
}

async fn ends_of_many_jobs_come_in_few_requests(server: &Server) {
    server.upload(artifacts::EXIT_CODE, "exit").await;
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let mut jobs = vec![Server::job("exit", &["0"]); 60];
    jobs.push(Server::job("exit", &["3"]));
    let ids = server.submit_batch(jobs).await;
    let (ends, requests) = collect(server, &ids).await;
    assert_eq!(ends.len(), ids.len());
    assert!(requests <= ids.len(), "{requests} requests for {} jobs", ids.len());
    // Once they have ended, one request answers them all, by id.
    let all = wait_on(server, &ids, 0).await;
    assert_eq!(
        (ended_ids(&all), &all["left_off"], &all["pending"]),
        (ids.clone(), &json!(0), &json!(0))
    );
    let failed: Vec<&Value> = ends.iter().filter(|job| job["state"] != "succeeded").collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        (failed[0]["id"].as_i64(), &failed[0]["exit_code"]),
        (ids.last().copied(), &json!(3))
    );
    assert!(ends.iter().all(|job| job["stdout"].is_string() && job["finished_at"].is_string()));

    // Nothing ended yet: the wait answers at its timeout, with none and the count pending.
    let slow = server.submit(Server::job("sleeper", &["30"])).await;
    let started = Instant::now();
    let answer = wait_on(server, &[slow], 300).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!((ended_ids(&answer), &answer["pending"]), (vec![], &json!(1)));

    // One ends (on the other worker) while the request waits: it answers then, not at its
    // timeout.
    let quick = server.submit(Server::job("sleeper", &["0.3"])).await;
    let started = Instant::now();
    let answer = wait_on(server, &[slow, quick], 60_000).await;
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(ended_ids(&answer), vec![quick]);
    assert_eq!(answer["ended"][0]["stdout"], "sleeping 0.3 s\nslept\n");
    assert_eq!(answer["pending"], 1);
    server.post(&format!("/v1/jobs/{slow}/cancel"), json!(null)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_on_many_jobs_answers_their_ends_in_few_requests() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    ends_of_many_jobs_come_in_few_requests(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_on_many_jobs_answers_their_ends_on_postgres() {
    let data = tempfile::tempdir().unwrap();
    let url = postgres::shared().database();
    let server = Server::start(2, data.path(), &["--store", &url]);
    ends_of_many_jobs_come_in_few_requests(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_of_jobs_at_the_output_cap_is_bounded_and_the_rest_left_off() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::PROBE, "probe").await;
    // Each job keeps 1 MiB of stdout and 1 MiB of stderr: five are 10 MiB.
    let flood = Server::job("probe", &["flood", &(2u64 << 20).to_string()]);
    let ids = server.submit_batch(vec![flood; 5]).await;
    for &id in &ids {
        server.wait(id).await;
    }
    let response = server
        .request(reqwest::Method::POST, "/v1/jobs/wait")
        .json(&json!({ "ids": ids }))
        .send()
        .await
        .unwrap();
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.len() <= 9 << 20, "an answer of {} bytes", bytes.len());
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    let first = ended_ids(&answer);
    assert_eq!(first, ids[..first.len()], "answered by id");
    assert!(!first.is_empty() && first.len() < ids.len(), "{first:?}");
    assert_eq!(answer["left_off"], json!(ids.len() - first.len()));
    assert!(answer["ended"].as_array().unwrap().iter().all(|job| job["stdout_truncated"] == true));
    let rest: Vec<i64> = ids[first.len()..].to_vec();
    let (ends, _) = collect(&server, &rest).await;
    assert_eq!(ends.len(), rest.len());
}

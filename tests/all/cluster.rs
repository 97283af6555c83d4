//! Several real `wasmpool serve` hosts on one real PostgreSQL: sharing work, losing a host,
//! a host paused past its lease, cancelling across hosts, queues across hosts, the database
//! going away, and hosts starting together.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::postgres;
use super::server::Server;

/// Fast liveness so the tests see a lost host within seconds.
const FAST: [&str; 4] = ["--heartbeat", "200ms", "--lease", "2s"];

/// A host of the cluster at `url`, named `name`, with its own data directory.
pub(super) fn host(
    url: &str,
    name: &str,
    workers: usize,
    extra: &[&str],
) -> (Server, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut args = vec!["--store", url, "--node", name];
    args.extend_from_slice(extra);
    (Server::start(workers, data.path(), &args), data)
}

/// Every job (all pages), by id.
async fn all_jobs(server: &Server) -> BTreeMap<i64, Value> {
    let mut jobs = BTreeMap::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = server.get(&format!("/v1/jobs?limit=500{cursor}")).await;
        assert_eq!(status, 200, "{page}");
        let found = page["jobs"].as_array().cloned().unwrap_or_default();
        jobs.extend(found.into_iter().map(|job| (job["id"].as_i64().unwrap(), job)));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return jobs,
        }
    }
}

/// Waits (bounded) until no job is queued or running anywhere; returns every job.
async fn settle(server: &Server, bound: Duration) -> BTreeMap<i64, Value> {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let (_, pool) = server.get("/v1/pool").await;
        let counts = &pool["counts"];
        if counts["queued"] == 0 && counts["running"] == 0 {
            return all_jobs(server).await;
        }
        assert!(tokio::time::Instant::now() < deadline, "jobs did not settle: {pool}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn by_node(jobs: &BTreeMap<i64, Value>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for job in jobs.values() {
        *counts.entry(job["node"].as_str().unwrap_or("none").to_string()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn three_hosts_share_the_jobs_and_see_the_whole_cluster() {
    let url = postgres::shared().database();
    let (a, _da) = host(&url, "a", 1, &[]);
    let (b, _db) = host(&url, "b", 1, &[]);
    let (c, _dc) = host(&url, "c", 1, &[]);
    a.upload(artifacts::SLEEPER, "sleeper").await;
    // 300 short jobs, submitted through a; each takes a few milliseconds so all hosts join in.
    let jobs: Vec<Value> =
        (0..300).map(|_| json!({ "module": "sleeper", "args": ["0.005"] })).collect();
    for chunk in jobs.chunks(100) {
        a.submit_batch(chunk.to_vec()).await;
    }
    let jobs = settle(&c, Duration::from_secs(120)).await;
    assert_eq!(jobs.len(), 300);
    assert!(jobs.values().all(|job| job["state"] == "succeeded" && job["attempts"] == 1));
    let ran = by_node(&jobs);
    assert_eq!(ran.keys().collect::<Vec<_>>(), ["a", "b", "c"], "every host ran some: {ran:?}");

    let (_, nodes) = b.get("/v1/nodes").await;
    let names: Vec<&str> =
        nodes.as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(nodes.as_array().unwrap().iter().all(|n| n["state"] == "alive" && n["workers"] == 1));
    let (_, pool) = a.get("/v1/pool").await;
    assert_eq!(pool["capacity"], 3, "{pool}");
    let mut hosts: Vec<&str> =
        pool["workers"].as_array().unwrap().iter().map(|w| w["node"].as_str().unwrap()).collect();
    hosts.sort_unstable();
    assert_eq!(hosts, ["a", "b", "c"]);
    assert_eq!(pool["counts"]["succeeded"], 300);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_host_s_jobs_are_retried_elsewhere_and_all_succeed() {
    let url = postgres::shared().database();
    let (a, _da) = host(&url, "a", 1, &FAST);
    let (_b, _db) = host(&url, "b", 1, &FAST);
    let (c, _dc) = host(&url, "c", 2, &FAST);
    a.upload(artifacts::SLEEPER, "sleeper").await;
    let jobs: Vec<Value> = (0..30)
        .map(|_| json!({ "module": "sleeper", "args": ["0.3"], "max_attempts": 3 }))
        .collect();
    a.submit_batch(jobs).await;
    // Wait until a job's start on one of c's workers is recorded, then kill c outright.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let started_on_c = |job: &Value| {
        job["node"] == "c" && job["state"] == "running" && job["started_at"].is_string()
    };
    while !all_jobs(&a).await.values().any(started_on_c) {
        assert!(tokio::time::Instant::now() < deadline, "c never ran a job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.kill();
    let jobs = settle(&a, Duration::from_secs(120)).await;
    assert!(jobs.values().all(|job| job["state"] == "succeeded"), "{jobs:?}");
    let retried = jobs.values().filter(|job| job["attempts"] == 2).count();
    assert!(retried >= 1, "the job running on c ran again, its attempt counted");
    assert!(jobs.values().all(|job| job["node"] != "c" || job["attempts"] == 1));
    let (_, nodes) = a.get("/v1/nodes").await;
    let c_state =
        nodes.as_array().unwrap().iter().find(|n| n["name"] == "c").unwrap()["state"].clone();
    assert_eq!(c_state, "lost");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_paused_past_its_lease_changes_nothing_when_it_comes_back() {
    let url = postgres::shared().database();
    let lease = ["--heartbeat", "300ms", "--lease", "3s"];
    // b alone at first, so the long job starts there.
    let (b, _db) = host(&url, "b", 1, &lease);
    b.upload(artifacts::SLEEPER, "sleeper").await;
    let id = b.submit(json!({ "module": "sleeper", "args": ["5"], "max_attempts": 2 })).await;
    b.wait_for_start(id).await;
    let first = b.wait_for_worker(id).await["worker_pid"].clone();
    let (a, _da) = host(&url, "a", 1, &lease);
    let pid = rustix::process::Pid::from_raw(b.pid() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    // a declares b lost after the lease and runs the job again; b wakes up meanwhile, its
    // worker having finished the first attempt, and tries to record it.
    let retry = a
        .poll_job(id, "ran again on a", |job| job["node"] == "a" && job["state"] == "running")
        .await;
    assert_eq!(retry["attempts"], 2, "{retry}");
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    let done = a.wait(id).await;
    assert_eq!(
        (done["state"].as_str(), done["node"].as_str()),
        (Some("succeeded"), Some("a")),
        "{done}"
    );
    assert_eq!(done["attempts"], 2);
    // The node column is set by the claim; the worker is the result's own: had b's late
    // result counted, it would name b's worker.
    assert_ne!(done["worker_pid"], first, "the recorded result is b's stale one: {done}");
    // b notices it was declared lost and joins again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, nodes) = a.get("/v1/nodes").await;
        let b_node = nodes.as_array().unwrap().iter().find(|n| n["name"] == "b").cloned().unwrap();
        if b_node["state"] == "alive" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "b never rejoined: {b_node}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = a.get(&format!("/v1/jobs/{id}")).await.1;
    assert_eq!(
        (after["node"].as_str(), after["attempts"].as_u64()),
        (Some("a"), Some(2)),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_on_one_host_stops_the_job_running_on_another() {
    let url = postgres::shared().database();
    let (b, _db) = host(&url, "b", 1, &[]);
    b.upload(artifacts::SLEEPER, "sleeper").await;
    let id = b.submit(json!({ "module": "sleeper", "args": ["60"] })).await;
    let running = b.wait_for_worker(id).await;
    let worker = running["worker_pid"].as_u64().unwrap_or(0) as u32;
    let (a, _da) = host(&url, "a", 1, &[]);
    let (status, body) =
        a.send(a.request(reqwest::Method::DELETE, &format!("/v1/jobs/{id}"))).await;
    assert_eq!(status, 200, "{body}");
    let started = std::time::Instant::now();
    let stopped = super::harness::wait_until(Duration::from_secs(5), || !b_runs(&b, worker)).await;
    assert!(stopped, "b's worker still ran the cancelled job");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(b.get(&format!("/v1/jobs/{id}")).await.1["state"], "cancelled");
}

/// Whether `worker` is still a live child of b's process.
fn b_runs(b: &Server, worker: u32) -> bool {
    super::harness::children(b.pid()).contains(&worker) && super::harness::alive(worker)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_item_put_through_one_host_is_taken_once_by_a_job_on_another() {
    let url = postgres::shared().database();
    let (a, _da) = host(&url, "a", 1, &[]);
    a.upload(artifacts::SLEEPER, "sleeper").await;
    a.upload(artifacts::QUEUE_READER, "queue-reader").await;
    // a's only worker is busy, so the reader can only run on b.
    let busy = a.submit(json!({ "module": "sleeper", "args": ["30"] })).await;
    a.wait_for_start(busy).await;
    let (b, _db) = host(&url, "b", 1, &[]);
    for item in ["A", "B", "END"] {
        let (status, body) = a
            .send(
                a.request(reqwest::Method::POST, "/v1/queues/letters")
                    .header("content-type", "application/octet-stream")
                    .header("content-type", "application/octet-stream")
                    .body(item.to_string()),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let reader = a.submit(json!({ "module": "queue-reader", "args": ["letters", "5000"] })).await;
    let reader = b.wait(reader).await;
    assert_eq!(
        (reader["state"].as_str(), reader["node"].as_str()),
        (Some("succeeded"), Some("b")),
        "{reader}"
    );
    let read: Vec<&str> = reader["stdout"].as_str().unwrap().lines().skip(1).collect();
    assert_eq!(read, ["Get A from queue.", "Get B from queue."]);
    let (_, queues) = b.get("/v1/queues").await;
    assert_eq!(queues, json!([]), "nothing left");
}

/// Waiters on an empty queue, on two hosts of one database, each get nothing when their wait
/// runs out. (On PostgreSQL an empty take used to announce a change of the queue: every other
/// waiter woke to take nothing and announced it again, and none of them ever answered; the
/// managers example's workers, waiting for more tasks, ran for ever.)
#[tokio::test(flavor = "multi_thread")]
async fn waiters_on_an_empty_queue_on_two_hosts_get_nothing_when_their_wait_ends() {
    let url = postgres::shared().database();
    let (a, _da) = host(&url, "a", 1, &[]);
    let (b, _db) = host(&url, "b", 1, &[]);
    let get = |server: &Server| {
        let request = server.request(reqwest::Method::POST, "/v1/queues/idle/get?timeout_ms=300");
        async move { request.timeout(Duration::from_secs(20)).send().await.map(|r| r.status()) }
    };
    let answers = futures_util::future::join_all([get(&a), get(&a), get(&b), get(&b)]).await;
    for answer in answers {
        assert_eq!(answer.expect("an answer within 20 s").as_u16(), 204);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_starting_at_once_on_an_empty_database_both_come_up() {
    let url = postgres::shared().database();
    let (one, two) = std::thread::scope(|scope| {
        let one = scope.spawn(|| host(&url, "one", 1, &[]));
        let two = scope.spawn(|| host(&url, "two", 1, &[]));
        (one.join().unwrap(), two.join().unwrap())
    });
    for (server, _) in [&one, &two] {
        let (status, nodes) = server.get("/v1/nodes").await;
        assert_eq!(status, 200);
        assert_eq!(nodes.as_array().unwrap().len(), 2, "{nodes}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_host_with_a_live_name_is_refused() {
    let url = postgres::shared().database();
    let (_a, _da) = host(&url, "a", 1, &[]);
    let data = tempfile::tempdir().unwrap();
    let output = super::harness::output(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--store",
        &url,
        "--node",
        "a",
        "--data",
        data.path().to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = super::harness::stderr(&output);
    assert!(stderr.contains("node name `a` is taken"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_stop_marks_the_host_left() {
    let url = postgres::shared().database();
    let (a, _da) = host(&url, "a", 1, &[]);
    let (b, _db) = host(&url, "b", 1, &[]);
    assert!(b.terminate().success());
    let (_, nodes) = a.get("/v1/nodes").await;
    let b_node = nodes.as_array().unwrap().iter().find(|n| n["name"] == "b").cloned().unwrap();
    assert_eq!(b_node["state"], "left", "{nodes}");
}

/// Submits one short job at a time through `server` until `stop`, counting the answers by
/// status and keeping the ids of the accepted jobs.
async fn steady_load(
    server: &Server,
    stop: tokio_util::sync::CancellationToken,
) -> (BTreeMap<u16, usize>, Vec<i64>) {
    let mut statuses = BTreeMap::new();
    let mut accepted = Vec::new();
    // Bounded: at most 20,000 submissions, however long `stop` takes.
    for _ in 0..20_000 {
        if stop.is_cancelled() {
            break;
        }
        let job = json!({ "module": "sleeper", "args": ["0.01"], "max_attempts": 3 });
        let (status, body) = server.post("/v1/jobs", job).await;
        *statuses.entry(status).or_default() += 1;
        if status == 202 {
            accepted.push(body["id"].as_i64().unwrap());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (statuses, accepted)
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_stopped_for_a_while_under_load_answers_503_and_loses_nothing() {
    let cluster = postgres::Postgres::own();
    let url = cluster.database();
    let (a, _da) = host(&url, "a", 1, &["--heartbeat", "200ms", "--lease", "3s"]);
    let (b, _db) = host(&url, "b", 1, &["--heartbeat", "200ms", "--lease", "3s"]);
    a.upload(artifacts::SLEEPER, "sleeper").await;
    let stop = tokio_util::sync::CancellationToken::new();
    let load = async {
        let (one, two) = tokio::join!(steady_load(&a, stop.clone()), steady_load(&b, stop.clone()));
        let mut statuses = one.0;
        two.0.into_iter().for_each(|(status, n)| *statuses.entry(status).or_default() += n);
        (statuses, [one.1, two.1].concat())
    };
    let fault = async {
        // Some work first, then the database goes away for five seconds (the fault itself,
        // not a wait for anything), comes back, and the load goes on a little.
        a.poll_job(1, "was accepted", |job| job["state"] == "succeeded").await;
        cluster.stop();
        tokio::time::sleep(Duration::from_secs(5)).await;
        cluster.start();
        let after = a.submit(json!({ "module": "sleeper", "args": ["0.01"] })).await;
        a.wait(after).await;
        stop.cancel();
    };
    let ((statuses, accepted), ()) = tokio::join!(load, fault);
    assert!(statuses.get(&503).is_some_and(|&n| n > 0), "no 503 while it was down: {statuses:?}");
    assert!(statuses.keys().all(|&status| status == 202 || status == 503), "{statuses:?}");
    let jobs = settle(&a, Duration::from_secs(60)).await;
    for id in &accepted {
        let job = jobs.get(id).unwrap_or_else(|| panic!("accepted job {id} is gone"));
        assert_eq!(job["state"], "succeeded", "{job}");
    }
    let (_, nodes) = b.get("/v1/nodes").await;
    assert!(nodes.as_array().unwrap().iter().all(|n| n["state"] == "alive"), "{nodes}");
}

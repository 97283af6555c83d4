//! Workflows: jobs that run after other jobs (`after`), through the real service on both
//! stores — chains, fan-out and fan-in, what a parent's failure does, refused graphs, a
//! workflow's cancel and retry, deletion of a job others wait on, two hosts ending parents
//! of one child at once, a stale host's late result, and a SIGKILL mid-workflow.

use std::time::Duration;

use serde_json::{Value, json};

use super::cluster::host;
use super::postgres;
use super::server::{Server, ok, verb};

fn job(name: &str, module: &str, args: &[&str], after: &[&str]) -> Value {
    json!({ "name": name, "module": module, "args": args, "after": after })
}

/// The workflow of job `id`, once it ended (bounded).
async fn ended_workflow(server: &Server, id: i64) -> Value {
    let job = server.get(&format!("/v1/jobs/{id}")).await.1;
    let workflow = job["workflow"].as_i64().unwrap_or_else(|| panic!("no workflow: {job}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, view) = server.get(&format!("/v1/workflows/{workflow}")).await;
        assert_eq!(status, 200, "{view}");
        if view["state"] != "running" {
            return view;
        }
        assert!(tokio::time::Instant::now() < deadline, "the workflow never ended: {view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The job named `name` in a workflow's view.
fn named<'a>(workflow: &'a Value, name: &str) -> &'a Value {
    let jobs = workflow["jobs"].as_array().expect("jobs");
    jobs.iter().find(|job| job["name"] == name).unwrap_or_else(|| panic!("no {name}: {workflow}"))
}

fn time(job: &Value, field: &str) -> String {
    job[field].as_str().unwrap_or_else(|| panic!("no {field}: {job}")).to_string()
}

/// A diamond: `a`, then `b` and `c` (fan-out), then `d` (fan-in); each job starts only after
/// every parent ended, and the workflow names its jobs and edges.
async fn diamond(server: &Server) {
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let ids = server
        .submit_batch(vec![
            job("a", "sleeper", &["0.2"], &[]),
            job("b", "sleeper", &["0.1"], &["a"]),
            job("c", "sleeper", &["0.3"], &["a"]),
            job("d", "sleeper", &["0"], &["b", "c"]),
        ])
        .await;
    let first = server.get(&format!("/v1/jobs/{}", ids[3])).await.1;
    assert_eq!(first["state"], "waiting", "{first}");
    let workflow = ended_workflow(server, ids[0]).await;
    assert_eq!(workflow["state"], "succeeded", "{workflow}");
    let mut jobs = Vec::new();
    for id in &ids {
        let job = server.get(&format!("/v1/jobs/{id}")).await.1;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["workflow"], workflow["id"], "{job}");
        jobs.push(job);
    }
    let [a, b, c, d] = [&jobs[0], &jobs[1], &jobs[2], &jobs[3]];
    for (child, parent) in [(b, a), (c, a), (d, b), (d, c)] {
        assert!(time(child, "started_at") >= time(parent, "finished_at"), "{child} {parent}");
    }
    let edges: Vec<[i64; 2]> = serde_json::from_value(workflow["edges"].clone()).unwrap();
    let expected = [[ids[0], ids[1]], [ids[0], ids[2]], [ids[1], ids[3]], [ids[2], ids[3]]];
    assert_eq!(edges, expected);
    assert_eq!(named(&workflow, "d")["after"], json!([ids[1], ids[2]]), "{workflow}");
    let (_, listed) = server.get(&format!("/v1/jobs?workflow={}", workflow["id"])).await;
    assert!(listed["jobs"].as_array().unwrap().iter().all(|j| j["workflow"] == workflow["id"]));
    assert_eq!(listed["jobs"].as_array().map(Vec::len), Some(4), "{listed}");
    let (_, list) = server.get("/v1/workflows").await;
    assert_eq!(list["workflows"][0]["id"], workflow["id"], "{list}");
    assert_eq!(list["workflows"][0]["counts"]["succeeded"], 4, "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_diamond_runs_in_order_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    diamond(&Server::start(2, data.path(), &[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_diamond_runs_in_order_on_postgres() {
    let url = postgres::shared().database();
    let (a, _da) = host(&url, "a", 2, &[]);
    diamond(&a).await;
}

/// A parent that fails: `cancel` children end cancelled naming it (and theirs below them,
/// naming the same first failure), `skip` children end skipped (which counts as done for
/// theirs), `run` children run. A parent that is retried fails only once its attempts are
/// spent.
async fn parent_failure(server: &Server) {
    server.upload(artifacts::EXIT_CODE, "exit-code").await;
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let mut failing = job("bad", "exit-code", &["3"], &[]);
    failing["max_attempts"] = json!(2);
    let mut skip = job("skip", "sleeper", &["0"], &["bad"]);
    skip["on_parent_failure"] = json!("skip");
    let mut run = job("run", "sleeper", &["0"], &["bad"]);
    run["on_parent_failure"] = json!("run");
    let ids = server
        .submit_batch(vec![
            failing,
            job("cancel", "sleeper", &["0"], &["bad"]),
            job("below", "sleeper", &["0"], &["cancel"]),
            skip,
            job("after-skip", "sleeper", &["0"], &["skip"]),
            run,
        ])
        .await;
    let workflow = ended_workflow(server, ids[0]).await;
    assert_eq!(workflow["state"], "failed", "{workflow}");
    let bad = server.get(&format!("/v1/jobs/{}", ids[0])).await.1;
    assert_eq!((bad["state"].as_str(), bad["attempts"].as_u64()), (Some("failed"), Some(2)));
    let why = format!("parent job {} (`bad`) failed", ids[0]);
    for name in ["cancel", "below"] {
        let job = named(&workflow, name);
        assert_eq!(
            (job["state"].as_str(), job["error"].as_str()),
            (Some("cancelled"), Some(&*why))
        );
    }
    assert_eq!(named(&workflow, "skip")["state"], "skipped", "{workflow}");
    assert_eq!(named(&workflow, "after-skip")["state"], "succeeded", "{workflow}");
    let run = server.get(&format!("/v1/jobs/{}", ids[5])).await.1;
    assert_eq!((run["state"].as_str(), run["attempts"].as_u64()), (Some("succeeded"), Some(1)));
    let cancelled = server.get(&format!("/v1/jobs/{}", ids[1])).await.1;
    assert_eq!(cancelled["attempts"], 0, "a cancelled child never ran: {cancelled}");

    // Retrying the workflow runs `bad` again and makes its cancelled and skipped children wait.
    let id = workflow["id"].as_i64().unwrap();
    let (status, retried) = server.post(&format!("/v1/workflows/{id}/retry"), json!({})).await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["changed"], 4, "bad, cancel, below, skip: {retried}");
    let again = ended_workflow(server, ids[0]).await;
    assert_eq!(again["state"], "failed", "{again}");
    assert_eq!(named(&again, "below")["state"], "cancelled", "{again}");
    // Cancelled again by the retried parent's end, not left as it was.
    let bad = server.get(&format!("/v1/jobs/{}", ids[0])).await.1;
    assert_eq!(bad["attempts"], 3, "{bad}");
    let below = server.get(&format!("/v1/jobs/{}", ids[2])).await.1;
    assert!(time(&below, "finished_at") >= time(&bad, "finished_at"), "{below} {bad}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parent_failure_cancels_skips_or_runs_its_children_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    parent_failure(&Server::start(2, data.path(), &[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parent_failure_cancels_skips_or_runs_its_children_on_postgres() {
    let url = postgres::shared().database();
    let (a, _da) = host(&url, "a", 2, &[]);
    parent_failure(&a).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_graphs_are_refused_whole_and_write_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--max-workflow-jobs", "3"]);
    server.upload(artifacts::HELLO, "hello").await;
    let refused = [
        (
            vec![
                job("a", "hello", &[], &["c"]),
                job("b", "hello", &[], &["a"]),
                job("c", "hello", &[], &["b"]),
            ],
            "cycle",
        ),
        (vec![job("a", "hello", &[], &["nope"])], "`nope`"),
        (vec![json!({ "module": "hello", "after": [987654] })], "987654"),
        (
            vec![
                job("a", "hello", &[], &[]),
                job("b", "hello", &[], &["a"]),
                job("c", "hello", &[], &["a"]),
                job("d", "hello", &[], &["a"]),
            ],
            "at most 3",
        ),
    ];
    for (jobs, named) in refused {
        let (status, body) = server.post("/v1/jobs/batch", json!({ "jobs": jobs })).await;
        assert_eq!(status, 400, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{named}: {body}");
    }
    let (status, body) = server.post("/v1/jobs", json!({ "module": "hello", "after": [0] })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(server.job_count().await, 0, "a refused graph wrote jobs");
    assert_eq!(server.get("/v1/workflows").await.1["workflows"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_others_wait_on_is_not_deleted_and_a_workflow_cancels_whole() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let ids = server
        .submit_batch(vec![
            job("quick", "sleeper", &["0"], &[]),
            job("slow", "sleeper", &["60"], &[]),
            job("join", "sleeper", &["0"], &["quick", "slow"]),
        ])
        .await;
    server.wait_for_state(ids[0], "succeeded").await;
    let delete = server.request(reqwest::Method::DELETE, &format!("/v1/jobs/{}", ids[0]));
    let (status, body) = server.send(delete).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(&ids[2].to_string()), "{body}");
    let (status, bulk) = server.post("/v1/jobs/delete", json!({ "state": "succeeded" })).await;
    assert_eq!((status, bulk["deleted"].as_u64()), (200, Some(0)), "{bulk}");
    assert_eq!(server.get(&format!("/v1/jobs/{}", ids[0])).await.0, 200);

    let workflow = server.get(&format!("/v1/jobs/{}", ids[2])).await.1["workflow"].clone();
    let (status, cancelled) =
        server.post(&format!("/v1/workflows/{workflow}/cancel"), json!({})).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(
        (cancelled["changed"].as_u64(), cancelled["state"].as_str()),
        (Some(2), Some("cancelled"))
    );
    let join = server.get(&format!("/v1/jobs/{}", ids[2])).await.1;
    assert_eq!(join["state"], "cancelled", "{join}");
    // Nothing waits on it now: it goes.
    let delete = server.request(reqwest::Method::DELETE, &format!("/v1/jobs/{}", ids[0]));
    assert_eq!(server.send(delete).await.0, 204);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_runs_after_an_existing_job_from_the_cli() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let parent = server.submit(json!({ "module": "sleeper", "args": ["0.3"] })).await;
    let child = ok(verb(&server, &["submit", "--after", &parent.to_string(), "sleeper", "0"]));
    let child: i64 = child.trim().parse().unwrap_or_else(|_| panic!("an id: {child}"));
    let waiting = server.get(&format!("/v1/jobs/{child}")).await.1;
    assert_eq!(waiting["state"], "waiting", "{waiting}");
    let done = server.wait(child).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let parent = server.get(&format!("/v1/jobs/{parent}")).await.1;
    assert!(time(&done, "started_at") >= time(&parent, "finished_at"));
    assert_eq!(parent["workflow"], done["workflow"], "the parent joined the workflow");
}

/// Two hosts end the two parents of many children at about the same moment: every child is
/// released exactly once (it runs once) and none is left waiting.
#[tokio::test(flavor = "multi_thread")]
async fn parents_ending_together_on_two_hosts_release_their_child_once() {
    let url = postgres::shared().database();
    let (a, _da) = host(&url, "a", 2, &[]);
    let (b, _db) = host(&url, "b", 2, &[]);
    a.upload(artifacts::SLEEPER, "sleeper").await;
    let mut jobs = Vec::new();
    for i in 0..20 {
        let (p, q) = (format!("p{i}"), format!("q{i}"));
        jobs.push(job(&p, "sleeper", &["0.05"], &[]));
        jobs.push(job(&q, "sleeper", &["0.05"], &[]));
        jobs.push(job(&format!("c{i}"), "sleeper", &["0"], &[&p, &q]));
    }
    let ids = a.submit_batch(jobs).await;
    let workflow = ended_workflow(&b, ids[0]).await;
    assert_eq!(workflow["state"], "succeeded", "{workflow}");
    let mut hosts = std::collections::BTreeSet::new();
    for id in &ids {
        let job = a.get(&format!("/v1/jobs/{id}")).await.1;
        assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("succeeded"), Some(1)));
        assert_eq!(job["attempts_history"].as_array().map(Vec::len), Some(1), "{job}");
        hosts.insert(job["node"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(hosts.len(), 2, "both hosts ran parents: {hosts:?}");
}

/// A host paused past its lease loses its running parent (failed by the rescue, its child
/// cancelled); its late result, recorded when it wakes, is fenced out and releases nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_hosts_late_result_releases_nothing() {
    let url = postgres::shared().database();
    let lease = ["--heartbeat", "300ms", "--lease", "3s"];
    let (b, _db) = host(&url, "b", 1, &lease);
    b.upload(artifacts::SLEEPER, "sleeper").await;
    let ids = b
        .submit_batch(vec![
            job("parent", "sleeper", &["4"], &[]),
            job("child", "sleeper", &["0"], &["parent"]),
        ])
        .await;
    b.wait_for_worker(ids[0]).await;
    let (a, _da) = host(&url, "a", 1, &lease);
    let pid = rustix::process::Pid::from_raw(b.pid() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    let child = a.wait_for_state(ids[1], "cancelled").await;
    assert!(child["error"].as_str().unwrap().contains("parent job"), "{child}");
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    // b wakes, its worker long done with the parent, and tries to record it; it then learns
    // it was declared lost and joins again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, nodes) = a.get("/v1/nodes").await;
        let alive =
            nodes.as_array().unwrap().iter().any(|n| n["name"] == "b" && n["state"] == "alive");
        if alive {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "b never rejoined: {nodes}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let parent = a.get(&format!("/v1/jobs/{}", ids[0])).await.1;
    assert_eq!(parent["state"], "failed", "{parent}");
    let child = a.get(&format!("/v1/jobs/{}", ids[1])).await.1;
    assert_eq!((child["state"].as_str(), child["attempts"].as_u64()), (Some("cancelled"), Some(0)));
}

/// A host SIGKILLed while a chain runs loses nothing: restarted, the chain ends as it would
/// have (the link that was running runs again, the rest in order).
#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_mid_workflow_loses_nothing_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let mut chain = Vec::new();
    for i in 0..5 {
        let after: Vec<String> = if i == 0 { vec![] } else { vec![format!("l{}", i - 1)] };
        let after: Vec<&str> = after.iter().map(String::as_str).collect();
        let mut link = job(&format!("l{i}"), "sleeper", &["0.5"], &after);
        link["max_attempts"] = json!(2);
        chain.push(link);
    }
    let ids = server.submit_batch(chain).await;
    server.wait_for_state(ids[1], "running").await;
    server.wait_for_start(ids[1]).await;
    server.kill();
    let server = Server::start(1, data.path(), &[]);
    let workflow = ended_workflow(&server, ids[0]).await;
    assert_eq!(workflow["state"], "succeeded", "{workflow}");
    let mut previous: Option<Value> = None;
    for id in &ids {
        let job = server.get(&format!("/v1/jobs/{id}")).await.1;
        assert_eq!(job["state"], "succeeded", "{job}");
        if let Some(parent) = previous {
            assert!(time(&job, "started_at") >= time(&parent, "finished_at"), "{job}");
        }
        previous = Some(job);
    }
    let link = server.get(&format!("/v1/jobs/{}", ids[1])).await.1;
    assert_eq!(link["attempts"], 2, "the killed link ran again: {link}");
}

/// `workflow submit` of a YAML file (a chain into a fan-out and a fan-in), `workflow show`
/// as a tree, and a failed workflow retried and cancelled from the command line.
async fn through_the_cli(server: &Server) {
    server.upload(artifacts::SLEEPER, "sleeper").await;
    server.upload(artifacts::EXIT_CODE, "exit-code").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flow.yaml");
    let yaml = "jobs:
  - { name: fetch, module: sleeper, args: ['0.1'] }
  - { name: left, module: sleeper, args: ['0'], after: [fetch] }
  - { name: right, module: sleeper, args: ['0'], after: [fetch] }
  - { name: join, module: sleeper, args: ['0'], after: [left, right] }
";
    std::fs::write(&file, yaml).unwrap();
    let id = ok(verb(server, &["workflow", "submit", file.to_str().unwrap()]));
    let id = id.trim().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let shown = loop {
        let shown = ok(verb(server, &["workflow", "show", &id]));
        if !shown.starts_with(&format!("workflow {id}: running")) {
            break shown;
        }
        assert!(tokio::time::Instant::now() < deadline, "never ended: {shown}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(shown.starts_with(&format!("workflow {id}: succeeded (4 jobs)")), "{shown}");
    assert!(shown.contains("└─ #"), "{shown}");
    assert!(shown.contains("join (also after #"), "{shown}");
    assert_eq!(shown.matches("succeeded").count(), 5, "{shown}");

    let json = "[{\"name\": \"bad\", \"module\": \"exit-code\", \"args\": [\"1\"]},
                 {\"name\": \"next\", \"module\": \"sleeper\", \"args\": [\"0\"], \"after\": [\"bad\"]}]";
    std::fs::write(&file, json).unwrap();
    let failed = ok(verb(server, &["workflow", "submit", file.to_str().unwrap()]));
    let failed = failed.trim().to_string();
    let view = loop {
        let (_, view) = server.get(&format!("/v1/workflows/{failed}")).await;
        if view["state"] != "running" {
            break view;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(view["state"], "failed", "{view}");
    let retried = ok(verb(server, &["workflow", "retry", &failed]));
    assert!(retried.contains("(2 jobs changed)"), "{retried}");
    let cancelled = ok(verb(server, &["workflow", "cancel", &failed]));
    assert!(cancelled.starts_with(&format!("workflow {failed}: ")), "{cancelled}");
    let shown = ok(verb(server, &["workflow", "show", &failed]));
    assert!(!shown.contains("running") && !shown.contains("waiting"), "{shown}");
    // A file without `after` is no workflow: refused before anything is submitted.
    std::fs::write(&file, "[{\"module\": \"sleeper\", \"args\": [\"0\"]}]").unwrap();
    let before = server.job_count().await;
    let refused = verb(server, &["workflow", "submit", file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert_eq!(server.job_count().await, before, "nothing was submitted");
}

#[tokio::test(flavor = "multi_thread")]
async fn workflows_through_the_cli_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    through_the_cli(&Server::start(2, data.path(), &[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn workflows_through_the_cli_on_postgres() {
    let url = postgres::shared().database();
    let (a, _da) = host(&url, "a", 2, &[]);
    through_the_cli(&a).await;
}

/// A child that asks for its parents' results reads them on its stdin, keyed by parent
/// name, once they have ended (a failed parent's too, for a `run` child).
async fn results_flow_down(server: &Server) {
    server.upload(artifacts::HELLO, "hello").await;
    server.upload(artifacts::EXIT_CODE, "exit-code").await;
    server.upload(artifacts::ECHO, "echo").await;
    let mut reader = job("reader", "echo", &[], &["greet", "fail"]);
    reader["stdin_from_parents"] = json!(true);
    reader["on_parent_failure"] = json!("run");
    let ids = server
        .submit_batch(vec![
            job("greet", "hello", &[], &[]),
            job("fail", "exit-code", &["4"], &[]),
            reader,
        ])
        .await;
    let read = server.wait(ids[2]).await;
    assert_eq!(read["state"], "succeeded", "{read}");
    let stdin: Value = serde_json::from_str(read["stdout"].as_str().unwrap()).unwrap();
    assert_eq!(stdin["greet"]["stdout"], "Hello from wasmpool!\n", "{stdin}");
    assert_eq!(stdin["greet"]["exit_code"], 0, "{stdin}");
    assert_eq!(stdin["fail"]["state"], "failed", "{stdin}");
    assert_eq!(stdin["fail"]["exit_code"], 4, "{stdin}");
    assert_eq!(stdin["fail"]["id"], ids[1], "{stdin}");
    let (status, body) =
        server.post("/v1/jobs", json!({ "module": "echo", "stdin_from_parents": true })).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn results_flow_down_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    results_flow_down(&Server::start(2, data.path(), &[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn results_flow_down_on_postgres() {
    let url = postgres::shared().database();
    let (a, _da) = host(&url, "a", 2, &[]);
    results_flow_down(&a).await;
}

/// A parent that fails an attempt but has attempts left is not a failed parent: its child
/// waits for the retry, and runs once it succeeds (reading what the call returned).
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_parent_fails_only_once_its_attempts_are_spent() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::CALLS, "mathlib").await;
    server.upload(artifacts::ECHO, "echo").await;
    let parent = json!({ "name": "flaky", "module": "mathlib", "call": "flaky", "params": [2],
                         "max_attempts": 2 });
    let mut child = job("reader", "echo", &[], &["flaky"]);
    child["stdin_from_parents"] = json!(true);
    let ids = server.submit_batch(vec![parent, child]).await;
    let read = server.wait(ids[1]).await;
    assert_eq!((read["state"].as_str(), read["attempts"].as_u64()), (Some("succeeded"), Some(1)));
    let flaky = server.get(&format!("/v1/jobs/{}", ids[0])).await.1;
    assert_eq!((flaky["state"].as_str(), flaky["attempts"].as_u64()), (Some("succeeded"), Some(2)));
    let stdin: Value = serde_json::from_str(read["stdout"].as_str().unwrap()).unwrap();
    assert_eq!(stdin["flaky"]["state"], "succeeded", "{stdin}");
    assert_eq!(stdin["flaky"]["result"], flaky["result"], "{stdin}");
    assert!(!stdin["flaky"]["result"].is_null(), "{stdin}");
}

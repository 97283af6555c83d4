//! Results flowing down to running jobs and fan-out from inside a job, through the real
//! service: a guest reading its parents (`wasmpool:task/workflow.parents`), a call fed its
//! parents' results as parameters (`params_from_parents`), a guest that spawns N children
//! and a fan-in that sums them (`workflow.spawn`), on both stores; a spawning parent that
//! fails leaves no children, one that succeeds on its second attempt writes them once, and
//! spawns past the bound are refused to the guest.

use std::time::Duration;

use serde_json::{Value, json};

use super::cluster::host;
use super::postgres;
use super::server::Server;

/// The view of workflow `id` once it has ended (bounded).
async fn ended_workflow(server: &Server, id: &Value) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let (status, view) = server.get(&format!("/v1/workflows/{id}")).await;
        assert_eq!(status, 200, "{view}");
        if view["state"] != "running" {
            return view;
        }
        assert!(tokio::time::Instant::now() < deadline, "the workflow never ended: {view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn named<'a>(workflow: &'a Value, name: &str) -> &'a Value {
    let jobs = workflow["jobs"].as_array().expect("jobs");
    jobs.iter().find(|job| job["name"] == name).unwrap_or_else(|| panic!("no {name}: {workflow}"))
}

fn call(name: &str, function: &str, params: Value, after: &[&str]) -> Value {
    let mut job = json!({ "name": name, "module": "mathlib", "call": function });
    match after.is_empty() {
        true => job["params"] = params,
        false => {
            job["after"] = json!(after);
            job["params_from_parents"] = json!(true);
        }
    }
    job
}

/// A guest reads its parents' results; calls take theirs as parameters, in `after` order; a
/// result that does not fit a parameter fails the call naming both; arity is checked at
/// submission.
async fn parents_and_params(server: &Server) {
    server.upload(artifacts::HELLO, "hello").await;
    server.upload(artifacts::CALLS, "mathlib").await;
    server.upload(artifacts::FANOUT, "fanout").await;
    let ids = server
        .submit_batch(vec![
            json!({ "name": "greet", "module": "hello" }),
            call("sixteen", "square", json!([4]), &[]),
            call("four", "square", json!([2]), &[]),
            json!({ "name": "reader", "module": "fanout", "args": ["parents"],
                    "after": ["greet", "sixteen"] }),
            call("div", "divide", Value::Null, &["sixteen", "four"]),
            call("hi", "greet", Value::Null, &["greet"]),
            call("bad", "square", Value::Null, &["greet"]),
        ])
        .await;
    let reader = server.wait(ids[3]).await;
    assert_eq!(reader["state"], "succeeded", "{reader}");
    assert_eq!(
        reader["stdout"], "greet succeeded 0 Hello from wasmpool! -\nsixteen succeeded - - 16\n",
        "{reader}"
    );
    let div = server.wait(ids[4]).await;
    assert_eq!((div["state"].as_str(), &div["result"]), (Some("succeeded"), &json!({"ok": 4})));
    let hi = server.wait(ids[5]).await;
    assert_eq!(hi["result"], "hello, Hello from wasmpool!\n!", "{hi}");
    let bad = server.wait(ids[6]).await;
    assert_eq!(bad["state"], "failed", "{bad}");
    let error = bad["error"].as_str().unwrap_or_default();
    assert!(error.contains("parameter `n` of `square`") && error.contains("s32"), "{bad}");
    let short = json!({ "module": "mathlib", "call": "add", "after": [ids[1]],
                        "params_from_parents": true });
    let (status, body) = server.post("/v1/jobs", short).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("parameter `b`"), "{body}");
    let command = json!({ "module": "hello", "after": [ids[0]], "params_from_parents": true });
    let (status, body) = server.post("/v1/jobs", command).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn parents_are_read_and_become_parameters_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    parents_and_params(&Server::start(2, data.path(), &[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn parents_are_read_and_become_parameters_on_postgres() {
    let url = postgres::shared().database();
    let (a, _da) = host(&url, "a", 2, &[]);
    parents_and_params(&a).await;
}

/// A job spawns five children and a fan-in that sums their outputs: all join a new workflow
/// with the spawner, the children after it, the fan-in after them.
async fn fan_out(server: &Server) {
    server.upload(artifacts::FANOUT, "fanout").await;
    let id = server.submit(json!({ "module": "fanout", "args": ["spawn", "5", "fanout"] })).await;
    let parent = server.wait(id).await;
    assert_eq!(
        (parent["state"].as_str(), parent["stdout"].as_str()),
        (Some("succeeded"), Some("spawned 6\n"))
    );
    let workflow = ended_workflow(server, &parent["workflow"]).await;
    assert_eq!(workflow["state"], "succeeded", "{workflow}");
    assert_eq!(workflow["jobs"].as_array().map(Vec::len), Some(7), "{workflow}");
    let sum = named(&workflow, "sum");
    let sum = server.get(&format!("/v1/jobs/{}", sum["id"])).await.1;
    assert_eq!(sum["stdout"], "15\n", "{sum}");
    let edges = workflow["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 10, "{workflow}");
    assert_eq!(edges.iter().filter(|edge| edge[0] == id).count(), 5, "{workflow}");
    assert_eq!(edges.iter().filter(|edge| edge[1] == sum["id"]).count(), 5, "{workflow}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_fans_out_and_in_from_inside_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    fan_out(&Server::start(2, data.path(), &[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_fans_out_and_in_from_inside_on_postgres() {
    let url = postgres::shared().database();
    let (a, _da) = host(&url, "a", 2, &[]);
    fan_out(&a).await;
}

/// Only a successful attempt's spawns are written: a parent that spawns then fails on both
/// attempts leaves no child, one that fails its first attempt and succeeds its second writes
/// the second's children once.
#[tokio::test(flavor = "multi_thread")]
async fn only_the_successful_attempts_spawns_are_written() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::FANOUT, "fanout").await;
    let failing = json!({ "module": "fanout", "args": ["spawn", "3", "fanout", "9"],
                          "max_attempts": 2 });
    let failed = server.wait(server.submit(failing).await).await;
    assert_eq!((failed["state"].as_str(), failed["attempts"].as_u64()), (Some("failed"), Some(2)));
    assert!(failed["workflow"].is_null(), "{failed}");
    assert_eq!(server.job_count().await, 1);
    let flaky = json!({ "module": "fanout", "args": ["spawn", "3", "fanout", "1"],
                        "max_attempts": 2 });
    let parent = server.wait(server.submit(flaky).await).await;
    assert_eq!(
        (parent["state"].as_str(), parent["attempts"].as_u64()),
        (Some("succeeded"), Some(2))
    );
    let workflow = ended_workflow(&server, &parent["workflow"]).await;
    assert_eq!(workflow["jobs"].as_array().map(Vec::len), Some(5), "{workflow}");
    let sum = named(&workflow, "sum");
    assert_eq!(server.get(&format!("/v1/jobs/{}", sum["id"])).await.1["stdout"], "6\n");
    assert_eq!(server.job_count().await, 6);
}

/// An attempt may spawn at most 1,000 jobs: the next spawn is refused to the guest, which
/// may carry on; what it spawned is written when it succeeds. A spawn naming a handle it was
/// not given is refused too.
#[tokio::test(flavor = "multi_thread")]
async fn spawns_past_the_bound_are_refused_to_the_guest() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::FANOUT, "fanout").await;
    let id = server.submit(json!({ "module": "fanout", "args": ["flood", "fanout"] })).await;
    let parent = server.wait(id).await;
    assert_eq!(parent["state"], "succeeded", "{parent}");
    assert_eq!(
        parent["stdout"], "refused after 1000: an attempt may spawn at most 1000 jobs\n",
        "{parent}"
    );
    let (_, view) = server.get(&format!("/v1/workflows/{}", parent["workflow"])).await;
    assert_eq!(view["jobs"].as_array().map(Vec::len), Some(1001), "{view}");
    let unknown = json!({ "module": "fanout", "args": ["spawn", "1", "no-such-module"] });
    let refused = server.wait(server.submit(unknown).await).await;
    assert_eq!(refused["state"], "failed", "{refused}");
    assert_eq!(
        refused["stdout"], "refused after 0: no module `no-such-module`: upload it first\n",
        "{refused}"
    );
}

/// A tenant's request with its token: status and JSON.
async fn as_tenant(server: &Server, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let http = reqwest::Client::new();
    let url = format!("{}{path}", server.url);
    let request = match body {
        Some(body) => http.post(url).json(&body),
        None => http.get(url),
    };
    let response = request.bearer_auth(token).send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Spawned jobs are the spawner's tenant's: they name its modules (another tenant's module is
/// refused to the guest as unknown), and only it sees them.
#[tokio::test(flavor = "multi_thread")]
async fn spawned_jobs_are_the_spawners_tenants() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &["--token", "s3cret-admin"]);
    let (_, made) = server.post("/v1/tokens", json!({ "tenant": "acme", "scope": "admin" })).await;
    let acme = made["token"].as_str().expect("a token").to_string();
    let wasm = std::fs::read(artifacts::FANOUT).unwrap();
    let upload = reqwest::Client::new()
        .post(format!("{}/v1/modules?name=fanout", server.url))
        .bearer_auth(&acme)
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status().as_u16(), 201);
    server.upload(artifacts::FANOUT, "theirs").await;
    let job = json!({ "module": "fanout", "args": ["spawn", "2", "fanout"] });
    let (status, accepted) = as_tenant(&server, &acme, "/v1/jobs", Some(job)).await;
    assert_eq!(status, 202, "{accepted}");
    let (_, parent) = as_tenant(
        &server,
        &acme,
        &format!("/v1/jobs/{}/wait?timeout_ms=30000", accepted["id"]),
        None,
    )
    .await;
    assert_eq!(parent["state"], "succeeded", "{parent}");
    let (_, workflow) =
        as_tenant(&server, &acme, &format!("/v1/workflows/{}", parent["workflow"]), None).await;
    assert_eq!(workflow["jobs"].as_array().map(Vec::len), Some(4), "{workflow}");
    let (status, _) = server.get(&format!("/v1/workflows/{}", parent["workflow"])).await;
    assert_eq!(status, 404, "another tenant does not see the spawned workflow");
    let theirs = json!({ "module": "fanout", "args": ["spawn", "1", "theirs"] });
    let (_, accepted) = as_tenant(&server, &acme, "/v1/jobs", Some(theirs)).await;
    let (_, refused) = as_tenant(
        &server,
        &acme,
        &format!("/v1/jobs/{}/wait?timeout_ms=30000", accepted["id"]),
        None,
    )
    .await;
    assert_eq!(refused["state"], "failed", "{refused}");
    assert_eq!(refused["stdout"], "refused after 0: no module `theirs`: upload it first\n");
}

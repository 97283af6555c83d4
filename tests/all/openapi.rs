//! The OpenAPI document states what the server does: where each parameter goes, what an
//! event of the stream looks like, which numbers and bodies are accepted. (The whole check is
//! `bench/schemathesis`; these are the points it found.)

use serde_json::{Value, json};

use super::server::Server;

async fn document(server: &Server) -> Value {
    let (status, document) = server.get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    document
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_are_where_the_server_reads_them() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let document = document(&server).await;
    let mut query = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for operation in operations.as_object().unwrap().values() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                match parameter["in"].as_str().unwrap() {
                    "path" => assert!(path.contains(&format!("{{{name}}}")), "{path}: {name}"),
                    "query" => query.push(format!("{path}?{name}")),
                    _ => {}
                }
            }
        }
    }
    for expected in [
        "/v1/jobs/{id}/wait?timeout_ms",
        "/v1/jobs?limit",
        "/v1/queues/{name}/get?timeout_ms",
        "/v1/modules?name",
        "/v1/queues/{name}/items?limit",
        "/v1/workflows?before",
    ] {
        assert!(query.iter().any(|q| q == expected), "{expected} not among {query:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_stream_and_raw_bodies_are_described() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let document = document(&server).await;
    let events = &document["paths"]["/v1/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
        ["schema"]["oneOf"];
    let names: Vec<&Value> = events
        .as_array()
        .expect("one schema per event")
        .iter()
        .map(|event| &event["properties"]["event"]["const"])
        .collect();
    assert_eq!(names, [&json!("pool"), &json!("jobs"), &json!("deleted")]);
    assert_eq!(
        events[0]["properties"]["data"]["contentSchema"]["$ref"],
        "#/components/schemas/PoolView"
    );
    assert!(document["components"]["schemas"]["JobEventView"].is_object());
    let upload = &document["paths"]["/v1/modules"]["post"]["requestBody"]["content"]["application/wasm"]
        ["schema"];
    assert_eq!(upload, &json!({ "type": "string", "format": "binary" }));
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_numbers_written_as_floats_are_accepted_and_fractions_refused() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let (status, job) = server
        .post("/v1/jobs", json!({ "module": "hello", "timeout_ms": 1500.0, "priority": -2.0 }))
        .await;
    assert_eq!(status, 202, "{job}");
    let (_, job) = server.get(&format!("/v1/jobs/{}", job["id"])).await;
    assert_eq!((job["timeout_ms"].as_u64(), job["priority"].as_i64()), (Some(1500), Some(-2)));
    // A float the default parser reads one ulp off (a fraction): parsed exactly, it is whole.
    let body = r#"{"module": "hello", "fuel": 4275719863665134.0}"#;
    let request = server
        .request(reqwest::Method::POST, "/v1/jobs")
        .header("content-type", "application/json")
        .body(body);
    let (status, job) = server.send(request).await;
    assert_eq!(status, 202, "{job}");
    let (_, job) = server.get(&format!("/v1/jobs/{}", job["id"])).await;
    assert_eq!(job["fuel"].as_u64(), Some(4275719863665134));
    for bad in [json!(1.5), json!(-1.0), json!(1e300)] {
        let (status, body) =
            server.post("/v1/jobs", json!({ "module": "hello", "timeout_ms": bad })).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn long_waits_are_cut_to_max_wait() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--max-wait", "200ms"]);
    // Far beyond u64 and the default cap: answered once --max-wait has passed, with no item.
    let request = server
        .request(reqwest::Method::POST, "/v1/queues/empty/get?timeout_ms=99999999999999999999999")
        .timeout(std::time::Duration::from_secs(30));
    let response = request.send().await.expect("answered before the client gives up");
    assert_eq!(response.status().as_u16(), 204);
    let (status, body) = server
        .send(server.request(reqwest::Method::POST, "/v1/queues/empty/get?timeout_ms=-1"))
        .await;
    assert_eq!(status, 400, "{body}");
}

/// The five places where the document once allowed what the server refused (schemathesis
/// found them): each is now stated by the document, or accepted by the server.
#[tokio::test(flavor = "multi_thread")]
async fn the_constraints_the_server_enforces_are_in_the_document() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let document = document(&server).await;
    let schemas = &document["components"]["schemas"];
    // An empty `lane` filter: the list's lane parameter is a name (1 to 64 characters).
    let list = &document["paths"]["/v1/jobs"]["get"]["parameters"];
    let lane = list.as_array().unwrap().iter().find(|p| p["name"] == "lane").unwrap();
    assert_eq!(
        (lane["schema"]["minLength"].as_u64(), lane["schema"]["maxLength"].as_u64()),
        (Some(1), Some(64))
    );
    assert_eq!(server.get("/v1/jobs?lane=").await.0, 400);
    // An integral float for max_running: accepted, as for a submission's integers.
    let (status, module) = server.patch("/v1/modules/hello", json!({ "max_running": 356.0 })).await;
    assert_eq!((status, module["max_running"].as_u64()), (200, Some(356)), "{module}");
    // An empty schedule patch: the document asks for at least one property, none null.
    assert_eq!(schemas["SchedulePatch"]["minProperties"], 1);
    assert_eq!(schemas["SchedulePatch"]["properties"]["enabled"]["type"], "boolean");
    let schedule = json!({ "name": "s", "cron": "0 0 1 1 *", "job": { "module": "hello" } });
    assert_eq!(server.post("/v1/schedules", schedule).await.0, 201);
    assert_eq!(server.patch("/v1/schedules/s", json!({})).await.0, 400);
    assert_eq!(server.patch("/v1/schedules/s", json!({ "enabled": null })).await.0, 400);
    // An empty time in the bulk filters: the document says date-time; any RFC 3339 one is
    // read, years before 1970 too.
    assert_eq!(schemas["JobSelector"]["properties"]["submitted_before"]["format"], "date-time");
    for (before, status) in [("", 400), ("0001-01-01T00:00:00+00:00", 200)] {
        let body = json!({ "submitted_before": before, "dry_run": true });
        let (got, answer) = server.post("/v1/jobs/cancel", body).await;
        assert_eq!(got, status, "{before}: {answer}");
    }
    // An empty module in a schedule's job: a submission's module is not empty.
    assert_eq!(schemas["JobRequest"]["properties"]["module"]["minLength"], 1);
}

/// Every route against the document, by schemathesis with all its checks, in a bounded run
/// (`bench/schemathesis` runs the same deeper). It needs schemathesis in `.venv`, which
/// `.ci/setup` installs (or its `st` named by `WASMPOOL_SCHEMATHESIS`): without it the test
/// fails under `CI=true` and is skipped, with a note, elsewhere.
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_mismatch() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--max-wait", "2s"]);
    server.upload(artifacts::HELLO, "hello").await;
    schemathesis(&server, None).await;
}

/// The same as a tenant's `submit` token on a service with tokens: the routes its scope does
/// not allow answer 403 as the document says, and its tenant's own module is there to use.
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_mismatch_with_a_tenants_submit_token() {
    const ADMIN: &str = "schemathesis-admin";
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--max-wait", "2s", "--token", ADMIN]);
    let token = |scope: &str| {
        let request = server.request(reqwest::Method::POST, "/v1/tokens").bearer_auth(ADMIN);
        request.json(&json!({ "tenant": "acme", "scope": scope }))
    };
    let (status, owner) = server.send(token("admin")).await;
    assert_eq!(status, 201, "{owner}");
    let upload = server
        .request(reqwest::Method::POST, "/v1/modules?name=hello")
        .bearer_auth(owner["token"].as_str().unwrap())
        .header("content-type", "application/wasm")
        .body(std::fs::read(artifacts::HELLO).unwrap());
    assert_eq!(server.send(upload).await.0, 201);
    let (status, submitter) = server.send(token("submit")).await;
    assert_eq!(status, 201, "{submitter}");
    schemathesis(&server, submitter["token"].as_str()).await;
}

/// Runs schemathesis against `server`, as `token` when given.
async fn schemathesis(server: &Server, token: Option<&str>) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let st = std::env::var_os("WASMPOOL_SCHEMATHESIS")
        .map_or_else(|| root.join(".venv/bin/st"), std::path::PathBuf::from);
    if !st.exists() {
        let note = "schemathesis is missing from .venv: run .ci/setup";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{note}");
        eprintln!("skipped: {note}");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(&st);
    command
        .current_dir(work.path())
        .env("SCHEMATHESIS_HOOKS", root.join("bench/schemathesis-hooks.py"))
        .arg("--config-file")
        .arg(root.join("bench/schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/v1/openapi.json", server.url))
        .args(["--checks", "all", "--request-timeout", "10", "--workers", "2"])
        // Few examples, but every phase: the coverage phase tries each constraint's edges
        // (empty strings, bounds, integral floats), where the document drifted before.
        .args(["--max-examples", "10", "--phases", "examples,coverage,fuzzing"])
        // A seed of its own, so a failure here is the same at every run (bench/schemathesis
        // draws a new one each time, and more examples).
        .args(["--seed", "21"]);
    if let Some(token) = token {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    let output = command.kill_on_drop(true).output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(600), output)
        .await
        .expect("schemathesis ends within 10 minutes")
        .expect("schemathesis starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found mismatches ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

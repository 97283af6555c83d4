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

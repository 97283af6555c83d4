//! Every malformed, oversized, hostile or unknown input gets the right status and a clear
//! message, and changes nothing.

use serde_json::{Value, json};

use super::harness::many_functions;
use super::server::Server;

struct Case {
    what: &'static str,
    method: reqwest::Method,
    path: String,
    body: Body,
    status: u16,
    code: &'static str,
    says: &'static str,
}

enum Body {
    None,
    Bytes(Vec<u8>),
    Json(Value),
    Text(&'static str),
}

fn case(
    what: &'static str,
    method: reqwest::Method,
    path: &str,
    body: Body,
    status: u16,
    code: &'static str,
    says: &'static str,
) -> Case {
    Case { what, method, path: path.to_string(), body, status, code, says }
}

async fn state_of(server: &Server) -> (Value, Value, Value) {
    let (_, modules) = server.get("/v1/modules").await;
    let (_, jobs) = server.get("/v1/jobs?limit=1000").await;
    let (_, pool) = server.get("/v1/pool").await;
    (modules, jobs, pool["counts"].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_get_clear_errors_and_change_nothing() {
    use reqwest::Method;
    let data = tempfile::tempdir().unwrap();
    let server =
        Server::start(1, data.path(), &["--max-module-size", "256KiB", "--max-batch", "10"]);
    server.upload(artifacts::HELLO, "hello").await;
    let done = server.submit(Server::job("hello", &[])).await;
    server.wait(done).await;
    let hello = std::fs::read(artifacts::HELLO).unwrap();
    let job = |extra: Value| {
        let mut body = json!({ "module": "hello" });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        Body::Json(body)
    };
    let cases = vec![
        case(
            "broken wasm",
            Method::POST,
            "/v1/modules",
            Body::Bytes(hello[..hello.len() / 2].to_vec()),
            400,
            "bad_request",
            "invalid WebAssembly",
        ),
        case(
            "empty upload",
            Method::POST,
            "/v1/modules",
            Body::Bytes(Vec::new()),
            400,
            "bad_request",
            "empty body",
        ),
        case(
            "not wasm",
            Method::POST,
            "/v1/modules",
            Body::Text("hello, world"),
            400,
            "bad_request",
            "not a WebAssembly file",
        ),
        case(
            "no _start",
            Method::POST,
            "/v1/modules",
            Body::Bytes(b"\0asm\x01\0\0\0".to_vec()),
            400,
            "bad_request",
            "`_start`",
        ),
        case(
            "huge upload",
            Method::POST,
            "/v1/modules",
            Body::Bytes(vec![0u8; 1 << 20]),
            413,
            "payload_too_large",
            "larger than",
        ),
        case(
            "bad module name",
            Method::POST,
            "/v1/modules?name=../etc",
            Body::Bytes(hello.clone()),
            400,
            "bad_request",
            "module name",
        ),
        case(
            "unknown module",
            Method::POST,
            "/v1/jobs",
            Body::Json(json!({ "module": "nope" })),
            404,
            "not_found",
            "no module `nope`",
        ),
        case(
            "malformed JSON",
            Method::POST,
            "/v1/jobs",
            Body::Text("{\"module\": "),
            400,
            "bad_request",
            "invalid JSON",
        ),
        case(
            "empty JSON body",
            Method::POST,
            "/v1/jobs",
            Body::Text(""),
            400,
            "bad_request",
            "empty body",
        ),
        case(
            "wrong type",
            Method::POST,
            "/v1/jobs",
            job(json!({ "args": "not-a-list" })),
            400,
            "bad_request",
            "invalid type",
        ),
        case(
            "negative timeout",
            Method::POST,
            "/v1/jobs",
            job(json!({ "timeout_ms": -5 })),
            400,
            "bad_request",
            "invalid value",
        ),
        case(
            "huge timeout",
            Method::POST,
            "/v1/jobs",
            job(json!({ "timeout_ms": 1_000_000_000_000u64 })),
            400,
            "bad_request",
            // The maximum in the unit the value came in, and as it was set.
            "timeout_ms 1000000000000 is above the service's maximum: at most 3600000 (1h)",
        ),
        case(
            "huge memory",
            Method::POST,
            "/v1/jobs",
            job(json!({ "memory_mb": 1_000_000 })),
            400,
            "bad_request",
            "memory_mb 1000000 is above the service's maximum: at most 4096 (4 GiB)",
        ),
        case(
            "zero fuel",
            Method::POST,
            "/v1/jobs",
            job(json!({ "fuel": 0 })),
            400,
            "bad_request",
            "fuel",
        ),
        case(
            "too many attempts",
            Method::POST,
            "/v1/jobs",
            job(json!({ "max_attempts": 11 })),
            400,
            "bad_request",
            "max_attempts",
        ),
        case(
            "priority out of range",
            Method::POST,
            "/v1/jobs",
            job(json!({ "priority": 5000 })),
            400,
            "bad_request",
            "priority",
        ),
        case(
            "unknown field",
            Method::POST,
            "/v1/jobs",
            job(json!({ "colour": "blue" })),
            400,
            "bad_request",
            "unknown field `colour`",
        ),
        case(
            "both stdins",
            Method::POST,
            "/v1/jobs",
            job(json!({ "stdin": "a", "stdin_base64": "YQ==" })),
            400,
            "bad_request",
            "not both",
        ),
        case(
            "bad base64",
            Method::POST,
            "/v1/jobs",
            job(json!({ "stdin_base64": "%%%" })),
            400,
            "bad_request",
            "base64",
        ),
        case(
            "env name with =",
            Method::POST,
            "/v1/jobs",
            job(json!({ "env": { "A=B": "c" } })),
            400,
            "bad_request",
            "env name",
        ),
        case(
            "NUL in args",
            Method::POST,
            "/v1/jobs",
            job(json!({ "args": ["a\u{0}b"] })),
            400,
            "bad_request",
            "NUL",
        ),
        case(
            "empty batch",
            Method::POST,
            "/v1/jobs/batch",
            Body::Json(json!({ "jobs": [] })),
            400,
            "bad_request",
            "no jobs",
        ),
        case(
            "batch over the limit",
            Method::POST,
            "/v1/jobs/batch",
            Body::Json(json!({ "jobs": vec![json!({"module": "hello"}); 11] })),
            400,
            "bad_request",
            "at most 10",
        ),
        case(
            "batch with one bad job",
            Method::POST,
            "/v1/jobs/batch",
            Body::Json(
                json!({ "jobs": [{ "module": "hello" }, { "module": "hello", "priority": 9999 }] }),
            ),
            400,
            "bad_request",
            "jobs[1]: priority",
        ),
        case(
            "bad job id",
            Method::GET,
            "/v1/jobs/abc",
            Body::None,
            400,
            "bad_request",
            "not a job id",
        ),
        case(
            "negative job id",
            Method::DELETE,
            "/v1/jobs/-4",
            Body::None,
            400,
            "bad_request",
            "not a job id",
        ),
        case(
            "unknown job",
            Method::GET,
            "/v1/jobs/999999",
            Body::None,
            404,
            "not_found",
            "no job 999999",
        ),
        case(
            "bad cursor",
            Method::GET,
            "/v1/jobs?cursor=zzz",
            Body::None,
            400,
            "bad_request",
            "cursor",
        ),
        case(
            "bad state filter",
            Method::GET,
            "/v1/jobs?state=sleeping",
            Body::None,
            400,
            "bad_request",
            "unknown state",
        ),
        case("bad limit", Method::GET, "/v1/jobs?limit=0", Body::None, 400, "bad_request", "limit"),
        case(
            "bad wait timeout",
            Method::GET,
            &format!("/v1/jobs/{done}/wait?timeout_ms=soon"),
            Body::None,
            400,
            "bad_request",
            "timeout_ms",
        ),
        case(
            "a wait on no jobs",
            Method::POST,
            "/v1/jobs/wait",
            Body::Json(json!({ "ids": [] })),
            400,
            "bad_request",
            "`ids` is empty",
        ),
        case(
            "a wait on too many jobs",
            Method::POST,
            "/v1/jobs/wait",
            Body::Json(json!({ "ids": (1..=10_001).collect::<Vec<i64>>() })),
            400,
            "bad_request",
            "at most 10000",
        ),
        case(
            "a wait on a job id that is not one",
            Method::POST,
            "/v1/jobs/wait",
            Body::Json(json!({ "ids": [done, 0] })),
            400,
            "bad_request",
            "`0` is not a job id",
        ),
        case(
            "a wait on jobs that do not exist",
            Method::POST,
            "/v1/jobs/wait",
            Body::Json(json!({ "ids": [done, 999998, 999999] })),
            404,
            "not_found",
            "no job 999998, 999999",
        ),
        case(
            "a wait whose ids are not numbers",
            Method::POST,
            "/v1/jobs/wait",
            Body::Json(json!({ "ids": ["1"] })),
            400,
            "bad_request",
            "invalid JSON",
        ),
        case(
            "a wait with a negative timeout",
            Method::POST,
            "/v1/jobs/wait",
            Body::Json(json!({ "ids": [done], "timeout_ms": -5 })),
            400,
            "bad_request",
            "invalid JSON",
        ),
        case(
            "a wait with an unknown field",
            Method::POST,
            "/v1/jobs/wait",
            Body::Json(json!({ "ids": [done], "timeout": 5 })),
            400,
            "bad_request",
            "unknown field",
        ),
        case(
            "a wait whose body is not JSON",
            Method::POST,
            "/v1/jobs/wait",
            Body::Text("ids=1"),
            400,
            "bad_request",
            "invalid JSON",
        ),
        case(
            "retry a succeeded job",
            Method::POST,
            &format!("/v1/jobs/{done}/retry"),
            Body::None,
            409,
            "conflict",
            "only failed",
        ),
        case(
            "delete an unknown module",
            Method::DELETE,
            "/v1/modules/nope",
            Body::None,
            404,
            "not_found",
            "no module",
        ),
        case(
            "unknown run parameter",
            Method::POST,
            "/v1/run?colour=blue",
            Body::Bytes(hello.clone()),
            400,
            "bad_request",
            "unknown query parameter",
        ),
        case(
            "fuel beyond a signed 64-bit integer",
            Method::POST,
            "/v1/jobs",
            job(json!({ "fuel": 1u64 << 63 })),
            400,
            "bad_request",
            "fuel 9223372036854775808 is out of range",
        ),
        case(
            "module name `.`",
            Method::POST,
            "/v1/modules?name=.",
            Body::Bytes(hello.clone()),
            400,
            "bad_request",
            "module name",
        ),
        case(
            "module name `..`",
            Method::POST,
            "/v1/modules?name=..",
            Body::Bytes(hello.clone()),
            400,
            "bad_request",
            "module name",
        ),
        case(
            "run args that are not UTF-8",
            Method::POST,
            "/v1/run?args=%ff",
            Body::Bytes(hello.clone()),
            400,
            "bad_request",
            "not UTF-8",
        ),
        case(
            "unknown route",
            Method::GET,
            "/v1/nothing-here",
            Body::None,
            404,
            "not_found",
            "no such route",
        ),
        case(
            "wrong method",
            Method::PUT,
            "/v1/jobs",
            Body::None,
            405,
            "method_not_allowed",
            "method not allowed",
        ),
    ];
    assert!(cases.len() >= 20);
    let before = state_of(&server).await;
    for case in cases {
        let mut request = server.request(case.method.clone(), &case.path);
        // Raw bodies go with the type their route takes: the content types have cases below.
        let raw_type = if case.path.starts_with("/v1/modules") || case.path.starts_with("/v1/run") {
            "application/wasm"
        } else {
            "application/json"
        };
        request = match case.body {
            Body::None => request,
            Body::Bytes(bytes) => request.header("content-type", raw_type).body(bytes),
            Body::Json(value) => request.json(&value),
            Body::Text(text) => request.header("content-type", raw_type).body(text),
        };
        let (status, body) = server.send(request).await;
        assert_eq!(status, case.status, "{}: {body}", case.what);
        assert_eq!(body["error"]["code"], case.code, "{}: {body}", case.what);
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(case.says),
            "{}: message {message:?} does not say {:?}",
            case.what,
            case.says
        );
    }
    assert_eq!(state_of(&server).await, before, "bad input changed the store");
    let (_, health) = server.get("/healthz").await;
    assert_eq!(health["status"], "ok", "the server survived it all");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_token_every_v1_call_needs_it() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--token", "s3cret-token"]);
    let client = reqwest::Client::new();
    for token in [None, Some("wrong"), Some("s3cret-toke")] {
        let mut request = client.get(format!("{}/v1/pool", server.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "token {token:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let upload = client
        .post(format!("{}/v1/modules", server.url))
        .body(std::fs::read(artifacts::HELLO).unwrap());
    assert_eq!(upload.send().await.unwrap().status(), 401, "nothing is uploaded without the token");
    assert_eq!(server.get("/v1/pool").await.0, 200, "the right token passes");
    for header in ["bearer s3cret-token", "BEARER s3cret-token", "Bearer  s3cret-token"] {
        let request = client.get(format!("{}/v1/pool", server.url)).header("authorization", header);
        assert_eq!(request.send().await.unwrap().status(), 200, "the scheme of {header:?}");
    }
    let basic =
        client.get(format!("{}/v1/pool", server.url)).header("authorization", "Basic s3cret-token");
    assert_eq!(basic.send().await.unwrap().status(), 401);
    assert_eq!(server.get("/v1/modules").await.1, json!([]));
    assert_eq!(client.get(format!("{}/healthz", server.url)).send().await.unwrap().status(), 200);
}

#[test]
fn a_public_address_without_a_token_is_refused() {
    let out = super::harness::output(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(
        super::harness::stderr(&out).contains("without a token"),
        "{}",
        super::harness::stderr(&out)
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Uploads compile in a process of their own under a memory limit: a module built to be
/// costly to compile is refused with 413, the host's memory does not grow, and the service
/// answers other requests while it compiles.
#[tokio::test(flavor = "multi_thread")]
async fn a_module_too_costly_to_compile_is_refused_without_costing_the_host() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--compile-memory", "128MiB"]);
    let before = rss_kib(server.pid());
    let module = many_functions(100_000);
    let wasm = |bytes| {
        let request = server.request(reqwest::Method::POST, "/v1/modules");
        request.header("content-type", "application/wasm").body(bytes)
    };
    let upload = server.send(wasm(module));
    let meanwhile = async {
        let (status, health) = server.get("/healthz").await;
        assert_eq!(status, 200, "{health}");
        let hello = server.upload(artifacts::HELLO, "hello").await;
        assert_eq!(hello.len(), 64);
    };
    let ((status, body), ()) = tokio::join!(upload, meanwhile);
    assert_eq!(status, 413, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("needed more than 128 MiB"), "{message}");
    let after = rss_kib(server.pid());
    assert!(after < before + 64 * 1024, "the host grew from {before} to {after} KiB");
    let (_, modules) = server.get("/v1/modules").await;
    assert_eq!(modules.as_array().map(Vec::len), Some(1), "only hello was stored: {modules}");
    // A module of a few functions still compiles under the same limit.
    let (status, body) = server.send(wasm(many_functions(10))).await;
    assert_eq!(status, 201, "{body}");
}

//! Tenants (issue 23): every route of the OpenAPI document keeps one tenant's jobs, modules,
//! schedules, queues and tokens from another (404, never 403; lists leave them out), scopes
//! limit what a token may do, tokens expire and are revoked at once (on a second host of a
//! shared PostgreSQL too), and `serve --token` stays the single-tenant shortcut.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::postgres;
use super::server::Server;

const ADMIN: &str = "s3cret-admin";

/// A client of `server` holding one token.
struct As {
    url: String,
    token: String,
    http: reqwest::Client,
}

/// What a request carries.
enum Body {
    None,
    Json(Value),
    Wasm(&'static str),
    Bytes(&'static [u8]),
}

impl As {
    fn new(server: &Server, token: &str) -> As {
        As { url: server.url.clone(), token: token.into(), http: reqwest::Client::new() }
    }

    async fn call(&self, method: Method, path: &str, body: Body) -> (u16, String) {
        let request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30));
        let request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Wasm(path) => request
                .header("content-type", "application/wasm")
                .body(std::fs::read(path).expect("guest built")),
            Body::Bytes(bytes) => {
                request.header("content-type", "application/octet-stream").body(bytes)
            }
        };
        let response = request.send().await.expect("the server answers");
        (response.status().as_u16(), response.text().await.unwrap_or_default())
    }

    async fn json(&self, method: Method, path: &str, body: Body) -> (u16, Value) {
        let (status, text) = self.call(method, path, body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Makes a token (as this caller) and answers its secret and id.
    async fn token(&self, tenant: &str, scope: &str) -> (String, i64) {
        let request = json!({ "tenant": tenant, "scope": scope });
        let (status, made) = self.json(Method::POST, "/v1/tokens", Body::Json(request)).await;
        assert_eq!(status, 201, "{made}");
        (made["token"].as_str().unwrap().to_string(), made["id"].as_i64().unwrap())
    }
}

/// What another tenant must get from a route.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// 404 `not_found`.
    NotFound,
    /// An answer holding nothing of the first tenant's.
    Absent,
    /// A bulk action that selected none of the first tenant's jobs.
    NoneMatched,
    /// 400: what it names is not there for it (a schedule's job naming the first's module).
    Refused,
    /// A queue of the same name that is the other tenant's own: none of the first's items.
    OwnQueue,
}

/// Every route of the document, with the request another tenant sends and what it must get.
/// `{id}` and `{name}` are the first tenant's. A route missing here fails the test.
fn table(route: &str, id: i64) -> Option<(Body, Expect)> {
    use Expect::*;
    let module = || json!({ "module": "acme-mod" });
    let selector = || json!({ "name": "acme-secret-job" });
    Some(match route {
        "GET /v1/jobs"
        | "GET /v1/modules"
        | "GET /v1/schedules"
        | "GET /v1/queues"
        | "GET /v1/pool"
        | "GET /v1/nodes"
        | "GET /v1/stats/modules"
        | "GET /v1/stats/history"
        | "GET /v1/openapi.json"
        | "GET /v1/tokens"
        | "GET /metrics"
        | "GET /healthz"
        | "GET /v1/events"
        | "GET /v1/workflows"
        | "GET /v1/me" => (Body::None, Absent),
        "POST /v1/jobs" => (Body::Json(module()), NotFound),
        "GET /v1/workflows/{id}"
        | "POST /v1/workflows/{id}/cancel"
        | "POST /v1/workflows/{id}/retry" => (Body::None, NotFound),
        "POST /v1/jobs/wait" => (Body::Json(json!({ "ids": [id], "timeout_ms": 0 })), NotFound),
        "POST /v1/jobs/batch" => (Body::Json(json!({ "jobs": [module()] })), NotFound),
        "POST /v1/jobs/retry" | "POST /v1/jobs/cancel" | "POST /v1/jobs/delete" => {
            (Body::Json(selector()), NoneMatched)
        }
        "GET /v1/jobs/{id}"
        | "DELETE /v1/jobs/{id}"
        | "GET /v1/jobs/{id}/wait"
        | "GET /v1/jobs/{id}/output"
        | "POST /v1/jobs/{id}/retry"
        | "POST /v1/jobs/{id}/cancel" => (Body::None, NotFound),
        "GET /v1/modules/{id}" | "DELETE /v1/modules/{id}" | "GET /v1/modules/{id}/exports" => {
            (Body::None, NotFound)
        }
        "PATCH /v1/modules/{id}" => (Body::Json(json!({ "max_running": 1 })), NotFound),
        // The other tenant's own upload and run: nothing of the first's in the answer.
        "POST /v1/modules" | "POST /v1/run" => (Body::Wasm(artifacts::HELLO), Absent),
        "POST /v1/schedules" => {
            (Body::Json(json!({ "name": "mine", "cron": "0 0 1 1 *", "job": module() })), Refused)
        }
        "GET /v1/schedules/{name}"
        | "DELETE /v1/schedules/{name}"
        | "POST /v1/schedules/{name}/run" => (Body::None, NotFound),
        "PATCH /v1/schedules/{name}" => (Body::Json(json!({ "enabled": false })), NotFound),
        // Queue names are each tenant's own: the same name is another, empty queue.
        "POST /v1/queues/{name}" => (Body::Bytes(b"theirs"), OwnQueue),
        "DELETE /v1/queues/{name}" | "GET /v1/queues/{name}/items" => (Body::None, OwnQueue),
        "POST /v1/queues/{name}/get" => (Body::None, OwnQueue),
        // Pausing the shared pool is the service admin's, refused to any tenant's token.
        "POST /v1/pool/pause" | "POST /v1/pool/resume" => (Body::None, Absent),
        "POST /v1/tokens" => (Body::Json(json!({ "scope": "read" })), Absent),
        "DELETE /v1/tokens/{id}" => (Body::None, NotFound),
        "GET /v1/tenants/{name}/quotas" => (Body::None, NotFound),
        // Quotas are the service admin's to set, refused to any tenant's token.
        "PUT /v1/tenants/{name}/quotas" => (Body::Json(json!({ "max_queued": 1 })), Absent),
        // Limit names are each tenant's own: listing shows none of the first's, deleting its
        // name finds nothing, setting that name makes the other tenant's own limit.
        "GET /v1/rate-limits" => (Body::None, Absent),
        "DELETE /v1/rate-limits/{name}" => (Body::None, NotFound),
        "PUT /v1/rate-limits/{name}" => {
            (Body::Json(json!({ "per": 1, "window_ms": 1000 })), OwnQueue)
        }
        _ => return None,
    })
}

/// The first SSE block of the stream (its first pool event), bounded.
async fn first_event(who: &As) -> String {
    let mut response = who
        .http
        .get(format!("{}/v1/events", who.url))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk()).await;
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap().expect("an event")));
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_keeps_one_tenants_things_from_another() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &["--token", ADMIN]);
    let admin = As::new(&server, ADMIN);
    let (acme, acme_token) = admin.token("acme", "admin").await;
    let (globex, _) = admin.token("globex", "admin").await;
    let (acme, globex) = (As::new(&server, &acme), As::new(&server, &globex));

    // The first tenant's things: a module, a running job, a schedule, a queue item.
    let (status, module) =
        acme.json(Method::POST, "/v1/modules?name=acme-mod", Body::Wasm(artifacts::SLEEPER)).await;
    assert_eq!(status, 201, "{module}");
    let hash = module["hash"].as_str().unwrap().to_string();
    let job = json!({ "module": "acme-mod", "name": "acme-secret-job", "args": ["20"], "timeout_ms": 30000 });
    let (status, accepted) = acme.json(Method::POST, "/v1/jobs", Body::Json(job)).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_i64().unwrap();
    let schedule =
        json!({ "name": "acme-nightly", "cron": "0 0 1 1 *", "job": { "module": "acme-mod" } });
    let (status, body) = acme.json(Method::POST, "/v1/schedules", Body::Json(schedule)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) =
        acme.json(Method::POST, "/v1/queues/acme-inbox", Body::Bytes(b"acme-item")).await;
    assert_eq!(status, 201, "{body}");
    let limit = Body::Json(json!({ "per": 7, "window_ms": 60000 }));
    let (status, body) = acme.json(Method::PUT, "/v1/rate-limits/acme-api", limit).await;
    assert_eq!(status, 200, "{body}");
    // A workflow of two: the second runs after the first.
    let steps = json!({ "jobs": [
        { "module": "acme-mod", "name": "acme-step", "args": ["0"] },
        { "module": "acme-mod", "name": "acme-after", "args": ["0"], "after": ["acme-step"] },
    ] });
    let (status, batch) = acme.json(Method::POST, "/v1/jobs/batch", Body::Json(steps)).await;
    assert_eq!(status, 202, "{batch}");
    let step = batch["jobs"][0]["id"].as_i64().unwrap();
    let (_, first) = acme.json(Method::GET, &format!("/v1/jobs/{step}"), Body::None).await;
    let workflow = first["workflow"].as_i64().expect("a workflow id");
    // The second tenant's own module, to run after the first tenant's job with.
    let (status, body) = globex
        .json(Method::POST, "/v1/modules?name=globex-mod", Body::Wasm(artifacts::HELLO))
        .await;
    assert_eq!(status, 201, "{body}");
    // What an answer to the other tenant must never hold (its own request's words aside).
    let markers =
        [hash.as_str(), "acme-secret-job", "acme-nightly", "acme-inbox", "acme-item", "acme-step"];

    let (_, document) = admin.json(Method::GET, "/v1/openapi.json", Body::None).await;
    let mut walked = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let route = format!("{} {path}", method.to_uppercase());
            let (body, expect) =
                table(&route, id).unwrap_or_else(|| panic!("{route}: not in the isolation table"));
            let concrete = path
                .replace("/v1/jobs/{id}", &format!("/v1/jobs/{id}"))
                .replace("/v1/modules/{id}", &format!("/v1/modules/{hash}"))
                .replace("/v1/tokens/{id}", &format!("/v1/tokens/{acme_token}"))
                .replace("/v1/schedules/{name}", "/v1/schedules/acme-nightly")
                .replace("/v1/queues/{name}", "/v1/queues/acme-inbox")
                .replace("/v1/tenants/{name}", "/v1/tenants/acme")
                .replace("/v1/rate-limits/{name}", "/v1/rate-limits/acme-api")
                .replace("/v1/workflows/{id}", &format!("/v1/workflows/{workflow}"));
            let method: Method = method.to_uppercase().parse().unwrap();
            let (status, text) = match route.as_str() {
                "GET /v1/events" => (200, first_event(&globex).await),
                _ => globex.call(method, &concrete, body).await,
            };
            match expect {
                Expect::NotFound => {
                    assert_eq!(status, 404, "{route}: {text}");
                    assert!(text.contains("\"not_found\""), "{route}: {text}");
                }
                Expect::Refused => assert_eq!(status, 400, "{route}: {text}"),
                Expect::NoneMatched => {
                    assert_eq!(status, 200, "{route}: {text}");
                    let answer: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(answer["matched"], 0, "{route}: {text}");
                }
                Expect::OwnQueue => {
                    assert!((200..300).contains(&status), "{route}: {status} {text}");
                    assert!(!text.contains("acme-item"), "{route}: {text}");
                    if route == "PUT /v1/rate-limits/{name}" {
                        // It made the other tenant's own limit: gone again, acme's stays.
                        let (gone, _) = globex.call(Method::DELETE, &concrete, Body::None).await;
                        assert_eq!(gone, 204, "{route}");
                    }
                }
                Expect::Absent if route != "GET /v1/openapi.json" => {
                    for marker in markers {
                        assert!(!text.contains(marker), "{route} shows `{marker}`: {text}");
                    }
                }
                Expect::Absent => {}
            }
            walked += 1;
        }
    }
    assert!(walked >= 40, "walked {walked} routes");
    // Running after another tenant's job is refused as after a job that does not exist.
    for (path, body) in [
        ("/v1/jobs", json!({ "module": "globex-mod", "after": [id] })),
        ("/v1/jobs/batch", json!({ "jobs": [{ "module": "globex-mod", "after": [step] }] })),
    ] {
        let (status, text) = globex.call(Method::POST, path, Body::Json(body)).await;
        assert_eq!(status, 400, "{path}: {text}");
        assert!(text.contains("to run after (unknown or deleted)"), "{path}: {text}");
    }
    let (_, mine) = acme.json(Method::GET, &format!("/v1/workflows/{workflow}"), Body::None).await;
    assert_eq!(mine["jobs"].as_array().map(Vec::len), Some(2), "{mine}");

    // And the first tenant's things are as they were.
    let (status, job) = acme.json(Method::GET, &format!("/v1/jobs/{id}"), Body::None).await;
    assert_eq!(status, 200);
    assert!(matches!(job["state"].as_str(), Some("queued" | "running")), "{job}");
    let (_, items) = acme.json(Method::GET, "/v1/queues/acme-inbox/items", Body::None).await;
    assert_eq!(items["length"], 1, "{items}");
    let (status, _) = acme.json(Method::GET, "/v1/schedules/acme-nightly", Body::None).await;
    assert_eq!(status, 200);
    let (status, _) = acme.json(Method::GET, "/v1/modules/acme-mod", Body::None).await;
    assert_eq!(status, 200);
    let (_, limits) = acme.json(Method::GET, "/v1/rate-limits", Body::None).await;
    assert_eq!(
        (limits[0]["name"].as_str(), limits[0]["per"].as_u64()),
        (Some("acme-api"), Some(7))
    );
    // A job naming a limit its tenant lacks is refused, whoever else has one of that name.
    let naming = Body::Json(json!({ "module": "globex-mod", "rate_limits": ["nope"] }));
    assert_eq!(globex.call(Method::POST, "/v1/jobs", naming).await.0, 400);
    let (_, tokens) = acme.json(Method::GET, "/v1/tokens", Body::None).await;
    assert_eq!(tokens.as_array().unwrap().len(), 1, "a tenant's admin lists its own: {tokens}");
    // The default tenant (serve --token) sees none of it either.
    let (_, jobs) = admin.json(Method::GET, "/v1/jobs", Body::None).await;
    assert_eq!(jobs["jobs"], json!([]), "{jobs}");
    let (status, _) = admin.json(Method::GET, &format!("/v1/jobs/{id}"), Body::None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_limit_what_a_token_may_do() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--token", ADMIN]);
    let admin = As::new(&server, ADMIN);
    let (owner, _) = admin.token("acme", "admin").await;
    let owner = As::new(&server, &owner);
    let (status, _) =
        owner.json(Method::POST, "/v1/modules?name=hello", Body::Wasm(artifacts::HELLO)).await;
    assert_eq!(status, 201);
    let (reader, _) = owner.token("acme", "read").await;
    let (submitter, _) = owner.token("acme", "submit").await;
    let (reader, submitter) = (As::new(&server, &reader), As::new(&server, &submitter));

    let (_, me) = reader.json(Method::GET, "/v1/me", Body::None).await;
    assert_eq!(me, json!({ "tenant": "acme", "scope": "read", "service_admin": false }));
    let (_, me) = admin.json(Method::GET, "/v1/me", Body::None).await;
    assert_eq!(me, json!({ "tenant": "default", "scope": "admin", "service_admin": true }));
    let hello = || Body::Json(json!({ "module": "hello" }));
    let (status, body) = reader.json(Method::POST, "/v1/jobs", hello()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("`submit`"), "{body}");
    let (status, accepted) = submitter.json(Method::POST, "/v1/jobs", hello()).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_i64().unwrap();
    let (status, job) = reader.json(Method::GET, &format!("/v1/jobs/{id}/wait"), Body::None).await;
    assert_eq!((status, job["state"].as_str()), (200, Some("succeeded")), "{job}");
    for (method, path, body) in [
        (Method::POST, "/v1/modules", Body::Wasm(artifacts::HELLO)),
        (Method::DELETE, "/v1/modules/hello", Body::None),
        (Method::POST, "/v1/tokens", Body::Json(json!({ "scope": "read" }))),
        (Method::GET, "/v1/tokens", Body::None),
    ] {
        let (status, answer) = submitter.json(method, path, body).await;
        assert_eq!(status, 403, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "forbidden", "{answer}");
    }
    // A tenant's admin manages its own tenant only, and does not pause the shared pool.
    let other = Body::Json(json!({ "tenant": "globex", "scope": "admin" }));
    assert_eq!(owner.call(Method::POST, "/v1/tokens", other).await.0, 403);
    assert_eq!(owner.call(Method::POST, "/v1/pool/pause", Body::None).await.0, 403);
    // No token, or a made-up one, is a 401, as before tenants.
    assert_eq!(As::new(&server, "wpt_00").call(Method::GET, "/v1/jobs", Body::None).await.0, 401);
    assert_eq!(As::new(&server, "nope").call(Method::GET, "/v1/jobs", Body::None).await.0, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_expire_and_are_revoked_at_once() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--token", ADMIN]);
    let admin = As::new(&server, ADMIN);
    let (token, id) = admin.token("acme", "read").await;
    let reader = As::new(&server, &token);
    assert_eq!(reader.call(Method::GET, "/v1/jobs", Body::None).await.0, 200);
    assert_eq!(admin.call(Method::DELETE, &format!("/v1/tokens/{id}"), Body::None).await.0, 204);
    assert_eq!(reader.call(Method::GET, "/v1/jobs", Body::None).await.0, 401);
    let (_, tokens) = admin.json(Method::GET, "/v1/tokens", Body::None).await;
    assert!(tokens[0]["revoked_at"].is_string(), "{tokens}");

    let request = json!({ "tenant": "acme", "scope": "read", "expires_in": "1s" });
    let (status, made) = admin.json(Method::POST, "/v1/tokens", Body::Json(request)).await;
    assert_eq!(status, 201, "{made}");
    assert!(made["expires_at"].is_string(), "{made}");
    let brief = As::new(&server, made["token"].as_str().unwrap());
    assert_eq!(brief.call(Method::GET, "/v1/jobs", Body::None).await.0, 200);
    let expired = async {
        loop {
            if brief.call(Method::GET, "/v1/jobs", Body::None).await.0 == 401 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), expired).await.expect("expired within 10 s");
    let bad = json!({ "tenant": "acme", "scope": "read", "expires_in": "soon" });
    assert_eq!(admin.call(Method::POST, "/v1/tokens", Body::Json(bad)).await.0, 400);
    let bad = json!({ "tenant": "no:colons", "scope": "read" });
    assert_eq!(admin.call(Method::POST, "/v1/tokens", Body::Json(bad)).await.0, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_stops_at_once_on_every_host_of_a_cluster() {
    let url = postgres::shared().database();
    let (a, _a_data) = super::cluster::host(&url, "a", 1, &["--token", ADMIN]);
    let (b, _b_data) = super::cluster::host(&url, "b", 1, &["--token", ADMIN]);
    let (token, id) = As::new(&a, ADMIN).token("acme", "submit").await;
    let on_b = As::new(&b, &token);
    assert_eq!(on_b.call(Method::GET, "/v1/jobs", Body::None).await.0, 200);
    let on_a = As::new(&a, ADMIN);
    let path = format!("/v1/tokens/{id}");
    assert_eq!(on_a.call(Method::DELETE, &path, Body::None).await.0, 204);
    assert_eq!(on_b.call(Method::GET, "/v1/jobs", Body::None).await.0, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_makes_lists_and_revokes_tokens() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--token", ADMIN]);
    let run = |args: &[&str]| {
        super::harness::wasmpool(args)
            .env("WASMPOOL_SERVER", &server.url)
            .env("WASMPOOL_TOKEN", ADMIN)
            .output()
            .expect("runs")
    };
    let made = run(&["tokens", "create", "--tenant", "acme", "--scope", "submit", "--json"]);
    let made: Value = serde_json::from_str(&super::server::ok(made)).unwrap();
    assert_eq!((made["tenant"].as_str(), made["scope"].as_str()), (Some("acme"), Some("submit")));
    assert!(made["token"].as_str().unwrap().starts_with("wpt_"), "{made}");
    let id = made["id"].as_i64().unwrap().to_string();
    let listed = super::server::ok(run(&["tokens", "ls"]));
    assert!(listed.contains("acme") && listed.contains("submit"), "{listed}");
    assert!(!listed.contains(made["token"].as_str().unwrap()), "a secret is shown once");
    super::server::ok(run(&["tokens", "revoke", &id]));
    let revoked = As::new(&server, made["token"].as_str().unwrap());
    assert_eq!(revoked.call(Method::GET, "/v1/jobs", Body::None).await.0, 401);
    let refused = run(&["tokens", "create", "--scope", "everything"]);
    assert_eq!(refused.status.code(), Some(2), "a bad scope is a usage error");
    let set = run(&["tenants", "set-quotas", "acme", "--max-queued", "5", "--json"]);
    let set: Value = serde_json::from_str(&super::server::ok(set)).unwrap();
    assert_eq!(set["max_queued"], 5, "{set}");
    let shown = super::server::ok(run(&["tenants", "quotas", "acme"]));
    assert!(shown.contains("max queued      5") && shown.contains("none"), "{shown}");
}

/// A PostgreSQL database from before tenants (migrations 1 to 10, recorded as sqlx records
/// them) opens with its module and job the default tenant's.
#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_database_from_before_tenants_keeps_its_data_under_default() {
    use sha2::Digest as _;
    let url = postgres::shared().database();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("host/src/store/postgres/migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    postgres::psql(
        &url,
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
             installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL,
             checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)",
    );
    for file in files.iter().filter(|f| f.file_name().unwrap().to_str().unwrap() < "0011") {
        let sql = std::fs::read_to_string(file).unwrap();
        postgres::psql(&url, &sql);
        let name = file.file_stem().unwrap().to_str().unwrap();
        let (version, description) = name.split_once('_').unwrap();
        let checksum = hex::encode(sha2::Sha384::digest(sql.as_bytes()));
        postgres::psql(
            &url,
            &format!(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                 VALUES ({}, '{}', TRUE, '\\x{checksum}', 0)",
                version.parse::<i64>().unwrap(),
                description.replace('_', " ")
            ),
        );
    }
    postgres::psql(
        &url,
        "INSERT INTO modules (hash, kind, size, created_at, bytes) VALUES ('ab', 'module', 1, 1, '\\x00');
         INSERT INTO jobs (module_hash, args, env, stdin, priority, timeout_ms, memory_mb,
             max_attempts, state, not_before, submitted_at)
         VALUES ('ab', '[]', '{}', '\\x', 0, 1000, 64, 1, 'queued', 1, 1)",
    );
    let location = wasmpool::store::Location::Postgres(url);
    let store =
        wasmpool::store::Store::open(&location, &super::conformance::node("a")).await.unwrap();
    let job = store.job(1).await.unwrap().expect("the job from before");
    assert_eq!(job.tenant, "default");
    assert!(store.owns_module("default", "ab").await.unwrap());
    assert!(!store.owns_module("acme", "ab").await.unwrap());
    assert!(store.tokens(None).await.unwrap().is_empty());
}

/// A tenant over a quota gets 429 naming it (with Retry-After for the queued jobs, which free
/// as jobs start), and nothing of the refused submission is stored; the default tenant has
/// none.
#[tokio::test(flavor = "multi_thread")]
async fn quotas_refuse_what_is_over_them_with_429() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--token", ADMIN]);
    let admin = As::new(&server, ADMIN);
    let (acme, _) = admin.token("acme", "admin").await;
    let acme = As::new(&server, &acme);
    let quotas = json!({ "max_queued": 2, "max_timeout_ms": 5000, "max_fuel": 1000000 });
    let (status, set) =
        admin.json(Method::PUT, "/v1/tenants/acme/quotas", Body::Json(quotas.clone())).await;
    assert_eq!(status, 200, "{set}");
    let (_, read) = acme.json(Method::GET, "/v1/tenants/acme/quotas", Body::None).await;
    assert_eq!(read["max_queued"], 2, "{read}");
    assert_eq!(acme.call(Method::PUT, "/v1/tenants/acme/quotas", Body::Json(quotas)).await.0, 403);
    let (status, _) =
        acme.json(Method::POST, "/v1/modules?name=hello", Body::Wasm(artifacts::HELLO)).await;
    assert_eq!(status, 201);
    // The pool paused, jobs stay queued.
    assert_eq!(admin.call(Method::POST, "/v1/pool/pause", Body::None).await.0, 200);

    let hello = |extra: Value| {
        let mut job = json!({ "module": "hello" });
        job.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        Body::Json(job)
    };
    let post = |body| acme.json(Method::POST, "/v1/jobs", body);
    let (status, first) = post(hello(json!({}))).await;
    assert_eq!(status, 202, "{first}");
    let (_, job) = acme.json(Method::GET, &format!("/v1/jobs/{}", first["id"]), Body::None).await;
    assert_eq!(job["fuel"], 1000000, "a job without fuel gets the quota's: {job}");
    let (status, body) = post(hello(json!({ "timeout_ms": 10000 }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("quota_exceeded")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("max_timeout_ms"), "{body}");
    let (status, body) = post(hello(json!({ "fuel": 2000000 }))).await;
    assert_eq!(status, 429, "{body}");
    // A batch that would pass max_queued is refused whole, with Retry-After.
    let batch = json!({ "jobs": [{ "module": "hello" }, { "module": "hello" }] });
    let response = acme
        .http
        .post(format!("{}/v1/jobs/batch", acme.url))
        .bearer_auth(&acme.token)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("max_queued"), "{body}");
    let (_, jobs) = acme.json(Method::GET, "/v1/jobs", Body::None).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1, "nothing of the refused ones: {jobs}");
    assert_eq!(post(hello(json!({}))).await.0, 202);
    assert_eq!(post(hello(json!({}))).await.0, 429);
    // The default tenant has no quota.
    let (status, _) =
        admin.json(Method::POST, "/v1/modules?name=hello", Body::Wasm(artifacts::HELLO)).await;
    assert!(status == 201 || status == 200);
    for _ in 0..3 {
        let (status, body) = admin.json(Method::POST, "/v1/jobs", hello(json!({}))).await;
        assert_eq!(status, 202, "{body}");
    }
    let bad = Body::Json(json!({ "max_queued": 0 }));
    assert_eq!(admin.call(Method::PUT, "/v1/tenants/acme/quotas", bad).await.0, 400);
}

//! The service end to end: a real `wasmpool serve`, a real SQLite file, real HTTP.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::server::Server;

#[tokio::test(flavor = "multi_thread")]
async fn upload_submit_wait_for_a_module_and_a_component() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    for (guest, name) in [(artifacts::ECHO, "echo"), (artifacts::ECHO_COMPONENT, "echo-p2")] {
        server.upload(guest, name).await;
        let id = server.submit(json!({ "module": name, "stdin": "hello over http\n" })).await;
        let job = server.wait(id).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["stdout"], "hello over http\n");
        assert_eq!(job["exit_code"], 0);
        assert_eq!(job["attempts"], 1);
        assert!(job["worker_pid"].as_u64().unwrap() > 0);
        assert!(job["started_at"].is_string() && job["finished_at"].is_string());
    }
    let (_, modules) = server.get("/v1/modules").await;
    let kinds: HashSet<&str> =
        modules.as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, HashSet::from(["module", "component"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_of_200_jobs_all_succeed() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::FIB, "fib").await;
    let jobs: Vec<Value> = (0..200).map(|i| Server::job("fib", &[&(i % 20).to_string()])).collect();
    let ids = server.submit_batch(jobs).await;
    assert_eq!(ids.len(), 200);
    for (i, id) in ids.iter().enumerate() {
        let job = server.wait(*id).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert!(job["stdout"].as_str().unwrap().starts_with(&format!("fib({}) = ", i % 20)));
    }
    let (_, pool) = server.get("/v1/pool").await;
    assert_eq!(pool["counts"]["succeeded"], 200);
}

/// `--host-threads 1`: the whole host on a current-thread runtime still spawns, feeds and
/// keeps its workers (spawned from the thread that lives as long as the pool) and drains.
#[tokio::test(flavor = "multi_thread")]
async fn a_single_threaded_host_runs_jobs_on_its_workers_and_drains() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &["--host-threads", "1"]);
    server.upload(artifacts::HELLO, "hello").await;
    let ids = server.submit_batch((0..200).map(|_| Server::job("hello", &[])).collect()).await;
    let mut pids = HashSet::new();
    for id in ids {
        let job = server.wait(id).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        pids.insert(job["worker_pid"].as_u64().unwrap());
    }
    let (_, pool) = server.get("/v1/pool").await;
    let workers: HashSet<u64> =
        pool["workers"].as_array().unwrap().iter().map(|w| w["pid"].as_u64().unwrap()).collect();
    assert!(pids.is_subset(&workers), "jobs ran on {pids:?}, the pool has {workers:?}");
    assert_eq!(pool["restarts"], 0, "{pool}");
    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_queued_job_means_it_never_runs() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let (status, pool) = server.post("/v1/pool/pause", json!({})).await;
    assert_eq!((status, pool["paused"].as_bool()), (200, Some(true)));
    let id = server.submit(Server::job("hello", &[])).await;
    let (status, job) =
        server.send(server.request(reqwest::Method::DELETE, &format!("/v1/jobs/{id}"))).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["state"], "cancelled");
    server.post("/v1/pool/resume", json!({})).await;
    let after = server.submit(Server::job("hello", &[])).await;
    assert_eq!(server.wait(after).await["state"], "succeeded");
    let (_, job) = server.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(job["state"], "cancelled");
    assert!(job["started_at"].is_null() && job["worker_pid"].is_null(), "it never ran: {job}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_running_job_stops_its_worker() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let id = server.submit(Server::job("sleeper", &["30"])).await;
    let running = server.wait_for_worker(id).await;
    let (status, job) =
        server.send(server.request(reqwest::Method::DELETE, &format!("/v1/jobs/{id}"))).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["state"], "cancelled");
    // The worker is killed and replaced; the pool runs the next job.
    server.upload(artifacts::HELLO, "hello").await;
    let next = server.wait(server.submit(Server::job("hello", &[])).await).await;
    assert_eq!(next["state"], "succeeded");
    assert_ne!(next["worker_pid"], running["worker_pid"], "a new worker replaced the killed one");
    let (_, pool) = server.get("/v1/pool").await;
    assert_eq!(pool["restarts"], 1);
    // Deleting the ended job removes it.
    let (status, _) =
        server.send(server.request(reqwest::Method::DELETE, &format!("/v1/jobs/{id}"))).await;
    assert_eq!(status, 204);
    assert_eq!(server.get(&format!("/v1/jobs/{id}")).await.0, 404);
    let (_, pool) = server.get("/v1/pool").await;
    assert_eq!(
        (pool["counts"]["cancelled"].as_u64(), pool["counts"]["succeeded"].as_u64()),
        (Some(0), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn priorities_order_the_queue() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    server.post("/v1/pool/pause", json!({})).await;
    let mut ids = Vec::new();
    for priority in [0, 5, 0, 10, 5, -3] {
        ids.push((
            priority,
            server.submit(json!({ "module": "hello", "priority": priority })).await,
        ));
    }
    server.post("/v1/pool/resume", json!({})).await;
    let mut ran = Vec::new();
    for (priority, id) in &ids {
        let job = server.wait(*id).await;
        ran.push((job["started_at"].as_str().unwrap().to_string(), *priority, *id));
    }
    ran.sort();
    let order: Vec<(i32, i64)> = ran.iter().map(|(_, p, id)| (*p, *id)).collect();
    let mut expected: Vec<(i32, i64)> = ids.clone();
    expected.sort_by_key(|(p, id)| (-p, *id));
    assert_eq!(order, expected, "highest priority first, FIFO within a priority");
}

/// After a run of short jobs the dispatcher claims jobs ahead of its workers. When the work
/// turns long, a job that no worker can take goes back to the queue rather than reading
/// `running` while it waits, and its attempt is not counted.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_waiting_for_a_worker_reads_queued_after_a_run_of_short_jobs() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    server.upload(artifacts::LONG_TIME_TASK, "long").await;
    let short: Vec<Value> = (0..100).map(|_| Server::job("hello", &[])).collect();
    let last = server.submit_batch(short).await[99];
    assert_eq!(server.wait(last).await["state"], "succeeded");

    let env = json!({ "LONG_TIME_TASK_MIN_MS": "3000", "LONG_TIME_TASK_MAX_MS": "3001" });
    let long: Vec<Value> =
        (0..3).map(|i| json!({ "module": "long", "args": [i.to_string()], "env": env })).collect();
    let ids = server.submit_batch(long).await;
    let first = server.wait_for_worker(ids[0]).await;
    server.wait_for_worker(ids[1]).await;
    let third = server.wait_for_state(ids[2], "queued").await;
    assert_eq!(third["attempts"], 0, "{third}");
    assert!(third["started_at"].is_null(), "{third}");
    let first_running = server.get(&format!("/v1/jobs/{}", ids[0])).await.1;
    assert_eq!(first_running["state"], "running", "checked while the first still ran: {first}");

    let ended = [server.wait(ids[0]).await, server.wait(ids[1]).await];
    let third = server.wait(ids[2]).await;
    assert_eq!((third["state"].as_str(), third["attempts"].as_u64()), (Some("succeeded"), Some(1)));
    let freed = ended.iter().map(|job| job["finished_at"].as_str().unwrap()).min();
    let started = third["started_at"].as_str();
    assert!(started >= freed, "the third started once a worker was free: {third}, {ended:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_jobs_are_retried_while_attempts_remain() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::EXIT_CODE, "exit-code").await;
    let id =
        server.submit(json!({ "module": "exit-code", "args": ["3"], "max_attempts": 3 })).await;
    let job = server.wait(id).await;
    assert_eq!(job["state"], "failed");
    assert_eq!(job["attempts"], 3);
    assert_eq!(job["exit_code"], 3);
    // An explicit retry runs it once more.
    let (status, accepted) = server.post(&format!("/v1/jobs/{id}/retry"), json!({})).await;
    assert_eq!((status, accepted["state"].as_str()), (202, Some("queued")));
    let job = server.wait(id).await;
    assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("failed"), Some(4)));
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_key_returns_the_first_job() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let submit = || {
        server
            .request(reqwest::Method::POST, "/v1/jobs")
            .header("Idempotency-Key", "order-17")
            .json(&Server::job("hello", &[]))
    };
    let (first_status, first) = server.send(submit()).await;
    let (second_status, second) = server.send(submit()).await;
    assert_eq!((first_status, second_status), (202, 202));
    assert_eq!(first["id"], second["id"]);
    let (_, page) = server.get("/v1/jobs").await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_uploads_runs_and_answers_in_one_call() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let bytes = std::fs::read(artifacts::FIB).unwrap();
    let (status, job) = server
        .send(
            server
                .request(reqwest::Method::POST, "/v1/run?args=15")
                .header("content-type", "application/wasm")
                .body(bytes),
        )
        .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["stdout"], "fib(15) = 610\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_pages_through_jobs_newest_first() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    server.post("/v1/pool/pause", json!({})).await;
    let jobs: Vec<Value> = (0..7).map(|_| Server::job("hello", &[])).collect();
    server.post("/v1/jobs/batch", json!({ "jobs": jobs })).await;
    let mut seen = Vec::new();
    let mut path = "/v1/jobs?limit=3&state=queued&module=hello".to_string();
    loop {
        let (status, page) = server.get(&path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/v1/jobs?limit=3&state=queued&module=hello&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(seen, (1..=7).rev().collect::<Vec<i64>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_module_in_use_cannot_be_deleted() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    server.post("/v1/pool/pause", json!({})).await;
    let id = server.submit(Server::job("hello", &[])).await;
    let (status, body) =
        server.send(server.request(reqwest::Method::DELETE, "/v1/modules/hello")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    server.send(server.request(reqwest::Method::DELETE, &format!("/v1/jobs/{id}"))).await;
    let (status, _) =
        server.send(server.request(reqwest::Method::DELETE, "/v1/modules/hello")).await;
    assert_eq!(status, 204);
    assert_eq!(server.get("/v1/modules/hello").await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_openmetrics_as_their_content_type_says() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    server.wait(server.submit(Server::job("hello", &[])).await).await;
    let response = reqwest::get(format!("{}/metrics", server.url)).await.unwrap();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("application/openmetrics-text;"), "{content_type}");
    assert!(content_type.contains("version=1.0.0"), "{content_type}");
    let text = response.text().await.unwrap();
    // OpenMetrics: the exposition ends with `# EOF`, nothing after it; every sample belongs
    // to a family declared by `# TYPE`, named as its type allows.
    assert!(text.ends_with("# EOF\n"), "{text}");
    let mut families = std::collections::HashMap::new();
    let mut samples = std::collections::HashMap::new();
    for line in text.lines() {
        assert!(!line.is_empty(), "OpenMetrics has no blank lines: {text}");
        if let Some(comment) = line.strip_prefix("# ") {
            let words: Vec<&str> = comment.split_whitespace().collect();
            match words.as_slice() {
                ["TYPE", name, kind] => {
                    families.insert(name.to_string(), kind.to_string());
                }
                ["HELP", ..] | ["UNIT", ..] | ["EOF"] => {}
                _ => panic!("bad comment line {line:?}"),
            }
            continue;
        }
        let (series, value) =
            line.rsplit_once(' ').unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name {name:?}"
        );
        let declared = families.iter().any(|(family, kind)| {
            let suffixes: &[&str] = match kind.as_str() {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_count", "_sum", "_created"],
                _ => &[""],
            };
            suffixes.iter().any(|suffix| name == format!("{family}{suffix}"))
        });
        assert!(declared, "{name} belongs to no declared family: {text}");
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "bad labels {line:?}"
            );
        }
        samples.insert(series.to_string(), value);
    }
    assert_eq!(samples["wasmpool_jobs_finished_total{outcome=\"succeeded\"}"], 1.0);
    assert_eq!(samples["wasmpool_queue_depth"], 0.0);
    assert_eq!(samples["wasmpool_workers"], 2.0);
    assert!(samples.contains_key("wasmpool_workers_busy"));
    assert!(samples.contains_key("wasmpool_worker_restarts_total"));
    assert_eq!(samples["wasmpool_job_duration_seconds_count"], 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_every_route() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let (status, document) = server.get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    let routes = [
        ("/v1/modules", "post"),
        ("/v1/modules", "get"),
        ("/v1/modules/{id}", "get"),
        ("/v1/modules/{id}", "delete"),
        ("/v1/modules/{id}", "patch"),
        ("/v1/schedules", "post"),
        ("/v1/schedules", "get"),
        ("/v1/schedules/{name}", "get"),
        ("/v1/schedules/{name}", "patch"),
        ("/v1/schedules/{name}", "delete"),
        ("/v1/jobs", "post"),
        ("/v1/jobs", "get"),
        ("/v1/jobs/batch", "post"),
        ("/v1/jobs/retry", "post"),
        ("/v1/jobs/cancel", "post"),
        ("/v1/jobs/delete", "post"),
        ("/v1/jobs/{id}", "get"),
        ("/v1/jobs/{id}", "delete"),
        ("/v1/jobs/{id}/wait", "get"),
        ("/v1/jobs/wait", "post"),
        ("/v1/jobs/{id}/output", "get"),
        ("/v1/jobs/{id}/retry", "post"),
        ("/v1/jobs/{id}/cancel", "post"),
        ("/v1/run", "post"),
        ("/v1/modules/{id}/exports", "get"),
        ("/v1/pool", "get"),
        ("/v1/pool/pause", "post"),
        ("/v1/pool/resume", "post"),
        ("/v1/nodes", "get"),
        ("/v1/stats/modules", "get"),
        ("/v1/stats/history", "get"),
        ("/v1/workflows", "get"),
        ("/v1/workflows/{id}", "get"),
        ("/v1/workflows/{id}/cancel", "post"),
        ("/v1/workflows/{id}/retry", "post"),
        ("/v1/openapi.json", "get"),
        ("/v1/events", "get"),
        ("/v1/queues", "get"),
        ("/v1/schedules/{name}/run", "post"),
        ("/v1/queues/{name}", "post"),
        ("/v1/queues/{name}", "delete"),
        ("/v1/queues/{name}/items", "get"),
        ("/v1/queues/{name}/get", "post"),
        ("/v1/tokens", "get"),
        ("/v1/tokens", "post"),
        ("/v1/tokens/{id}", "delete"),
        ("/v1/me", "get"),
        ("/v1/tenants/{name}/quotas", "get"),
        ("/v1/tenants/{name}/quotas", "put"),
        ("/v1/rate-limits", "get"),
        ("/v1/rate-limits/{name}", "put"),
        ("/v1/rate-limits/{name}", "delete"),
        ("/metrics", "get"),
        ("/healthz", "get"),
    ];
    for (path, method) in routes {
        assert!(
            document["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let listed: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|ops| ops.as_object().unwrap().len())
        .sum();
    assert_eq!(listed, routes.len(), "the document lists exactly the served routes");
}

#[tokio::test(flavor = "multi_thread")]
async fn events_stream_pool_snapshots_and_job_transitions() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let mut stream = reqwest::get(format!("{}/v1/events", server.url)).await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    let mut next_event = async || -> (String, Value) {
        loop {
            if let Some(end) = text.find("\n\n") {
                let block: String = text.drain(..end + 2).collect();
                let event =
                    block.lines().find_map(|l| l.strip_prefix("event: ")).map(str::to_string);
                let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                if let (Some(event), Some(data)) = (event, data) {
                    return (event, serde_json::from_str(data).unwrap());
                }
                continue;
            }
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk())
                .await
                .expect("an event within 10 s")
                .unwrap()
                .expect("the stream stays open");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    let (event, pool) = next_event().await;
    assert_eq!(event, "pool", "a snapshot comes first");
    assert_eq!(pool["capacity"], 2);
    let id = server.submit(Server::job("hello", &[])).await;
    let mut states = Vec::new();
    while !states.contains(&"succeeded".to_string()) {
        let (event, data) = next_event().await;
        if event == "jobs" {
            for change in data.as_array().unwrap() {
                assert_eq!(change["id"], id);
                states.push(change["state"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(states, ["queued", "running", "succeeded"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_is_served_without_external_resources() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let page = reqwest::get(format!("{}/", server.url)).await.unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'self'")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="/app.js">"#));
    for asset in [
        "app.js",
        "api.js",
        "live.js",
        "pool.js",
        "hosts.js",
        "jobs.js",
        "submit.js",
        "format.js",
        "style.css",
    ] {
        let response = reqwest::get(format!("{}/{asset}", server.url)).await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{asset} loads nothing from elsewhere"
        );
    }
    assert_eq!(reqwest::get(format!("{}/nope.js", server.url)).await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relative_data_directory_works() {
    let cwd = tempfile::tempdir().unwrap();
    let server = Server::start_in(Some(cwd.path()), 1, std::path::Path::new("./data"), &[]);
    let bytes = std::fs::read(artifacts::HELLO).unwrap();
    let (status, job) = server
        .send(
            server
                .request(reqwest::Method::POST, "/v1/run")
                .header("content-type", "application/wasm")
                .body(bytes),
        )
        .await;
    assert_eq!((status, job["state"].as_str()), (200, Some("succeeded")), "{job}");
    assert!(cwd.path().join("data/wasmpool.db").exists());
}

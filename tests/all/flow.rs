//! Flow control per tenant (issue 23): running quotas held at claim time (on one host and
//! across hosts on PostgreSQL), the module storage quota at upload.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::postgres;
use super::server::Server;

const ADMIN: &str = "s3cret-admin";

/// A client of a server holding one token.
pub(super) struct Caller {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Caller {
    pub(super) fn new(server: &Server, token: &str) -> Caller {
        Caller { url: server.url.clone(), token: token.into(), http: reqwest::Client::new() }
    }

    /// The service's admin of `server` (started with `--token ADMIN`).
    pub(super) fn admin(server: &Server) -> Caller {
        Caller::new(server, ADMIN)
    }

    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(super) async fn get(&self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, None).await
    }

    pub(super) async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    /// A tenant's admin token made by this caller.
    pub(super) async fn tenant(&self, server: &Server, tenant: &str) -> Caller {
        let (status, made) =
            self.post("/v1/tokens", json!({ "tenant": tenant, "scope": "admin" })).await;
        assert_eq!(status, 201, "{made}");
        Caller::new(server, made["token"].as_str().unwrap())
    }

    pub(super) async fn set_quotas(&self, tenant: &str, quotas: Value) {
        let path = format!("/v1/tenants/{tenant}/quotas");
        let (status, body) = self.send(Method::PUT, &path, Some(quotas)).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Uploads a guest under `name`: the status and answer.
    pub(super) async fn upload(&self, path: &str, name: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/v1/modules?name={name}", self.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/wasm")
            .body(std::fs::read(path).expect("guest built"))
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Submits jobs in one batch; their ids.
    pub(super) async fn submit(&self, jobs: Vec<Value>) -> Vec<i64> {
        let (status, accepted) = self.post("/v1/jobs/batch", json!({ "jobs": jobs })).await;
        assert_eq!(status, 202, "{accepted}");
        accepted["jobs"].as_array().unwrap().iter().map(|job| job["id"].as_i64().unwrap()).collect()
    }

    pub(super) async fn job(&self, id: i64) -> Value {
        let (status, job) = self.get(&format!("/v1/jobs/{id}")).await;
        assert_eq!(status, 200, "{job}");
        job
    }

    /// Waits (bounded) for job `id` to end.
    pub(super) async fn wait(&self, id: i64) -> Value {
        for _ in 0..12 {
            let (status, job) = self.get(&format!("/v1/jobs/{id}/wait?timeout_ms=10000")).await;
            assert_eq!(status, 200, "{job}");
            if !matches!(job["state"].as_str(), Some("queued" | "running")) {
                return job;
            }
        }
        panic!("job {id} did not end within two minutes");
    }

    /// Waits (bounded) until job `id` has started on a worker.
    pub(super) async fn wait_for_start(&self, id: i64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let job = self.job(id).await;
            if job["started_at"].is_string() {
                return job;
            }
            assert!(tokio::time::Instant::now() < deadline, "job {id} did not start: {job}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The most of `jobs` (ended) that ran at once, from their start and end times (RFC 3339 in
/// UTC with fixed digits: the strings order as the times do).
pub(super) fn most_at_once(jobs: &[Value]) -> usize {
    let mut edges: Vec<(String, i32)> = Vec::new();
    for job in jobs {
        edges.push((job["started_at"].as_str().unwrap().to_string(), 1));
        edges.push((job["finished_at"].as_str().unwrap().to_string(), -1));
    }
    // An end before a start at the same instant: touching runs do not overlap.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most as usize
}

fn sleeper(seconds: &str) -> Value {
    json!({ "module": "sleeper", "args": [seconds], "timeout_ms": 120_000 })
}

/// A tenant at its running quota has its jobs passed over by the claim, queued with no attempt
/// counted, while another tenant's jobs take the free workers; raising the quota starts them.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_running_quota_holds_its_jobs_queued_uncounted() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(4, data.path(), &["--token", ADMIN]);
    let admin = Caller::admin(&server);
    let (acme, globex) =
        (admin.tenant(&server, "acme").await, admin.tenant(&server, "globex").await);
    admin.set_quotas("acme", json!({ "max_running": 1 })).await;
    assert_eq!(acme.upload(artifacts::SLEEPER, "sleeper").await.0, 201);
    assert_eq!(globex.upload(artifacts::HELLO, "hello").await.0, 201);
    let ids = acme.submit(vec![sleeper("60"); 3]).await;
    acme.wait_for_start(ids[0]).await;
    // Three workers free, yet acme's others wait, uncounted, while globex's jobs run.
    let hellos = globex.submit(vec![json!({ "module": "hello" }); 10]).await;
    for id in hellos {
        assert_eq!(globex.wait(id).await["state"], "succeeded");
    }
    for id in &ids[1..] {
        let job = acme.job(*id).await;
        assert_eq!(
            (job["state"].as_str(), job["attempts"].as_u64()),
            (Some("queued"), Some(0)),
            "{job}"
        );
    }
    admin.set_quotas("acme", json!({ "max_running": 3 })).await;
    acme.wait_for_start(ids[1]).await;
    acme.wait_for_start(ids[2]).await;
    for id in ids {
        assert_eq!(acme.post(&format!("/v1/jobs/{id}/cancel"), json!({})).await.0, 200);
    }

    // Short jobs under a quota of 2 on four workers: never three at once.
    admin.set_quotas("acme", json!({ "max_running": 2 })).await;
    let ids = acme.submit(vec![sleeper("0.2"); 8]).await;
    let mut ended = Vec::new();
    for id in ids {
        let job = acme.wait(id).await;
        assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("succeeded"), Some(1)));
        ended.push(job);
    }
    assert_eq!(most_at_once(&ended), 2, "at most the quota, and the quota reached");
}

/// On PostgreSQL the quota holds across hosts: two hosts of two workers each never run more
/// than a tenant's two at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_running_quota_holds_across_hosts() {
    let url = postgres::shared().database();
    let (a, _da) = super::cluster::host(&url, "a", 2, &["--token", ADMIN]);
    let (b, _db) = super::cluster::host(&url, "b", 2, &["--token", ADMIN]);
    let admin = Caller::admin(&a);
    let acme = admin.tenant(&a, "acme").await;
    admin.set_quotas("acme", json!({ "max_running": 2 })).await;
    assert_eq!(acme.upload(artifacts::SLEEPER, "sleeper").await.0, 201);
    let ids = acme.submit(vec![sleeper("0.3"); 12]).await;
    let mut ended = Vec::new();
    for id in ids {
        let job = acme.wait(id).await;
        assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("succeeded"), Some(1)));
        ended.push(job);
    }
    assert!(most_at_once(&ended) <= 2, "{}", most_at_once(&ended));
    drop(b);
}

/// An upload past the tenant's module storage is 429 naming the quota, and stores nothing; an
/// upload it owns already adds nothing. The CLI sets both new quotas.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_past_the_storage_quota_is_refused_whole() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--token", ADMIN]);
    let admin = Caller::admin(&server);
    let acme = admin.tenant(&server, "acme").await;
    let hello = std::fs::metadata(artifacts::HELLO).unwrap().len();
    let set = super::harness::wasmpool(&[
        "tenants",
        "set-quotas",
        "acme",
        "--max-running",
        "3",
        "--max-module-bytes",
        &(hello + 10).to_string(),
        "--json",
    ])
    .env("WASMPOOL_SERVER", &server.url)
    .env("WASMPOOL_TOKEN", ADMIN)
    .output()
    .unwrap();
    let set: Value = serde_json::from_str(&super::server::ok(set)).unwrap();
    assert_eq!(
        (set["max_running"].as_u64(), set["max_module_bytes"].as_u64()),
        (Some(3), Some(hello + 10))
    );
    assert_eq!(acme.upload(artifacts::HELLO, "hello").await.0, 201);
    let (status, body) = acme.upload(artifacts::SLEEPER, "sleeper").await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("quota_exceeded")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("max_module_bytes"), "{body}");
    assert_eq!(acme.get("/v1/modules/sleeper").await.0, 404, "nothing stored");
    let (_, modules) = acme.get("/v1/modules").await;
    assert_eq!(modules.as_array().map(Vec::len), Some(1), "{modules}");
    assert_eq!(
        acme.upload(artifacts::HELLO, "hello2").await.0,
        200,
        "owned already: no bytes more"
    );
    // The default tenant has no quota.
    assert_eq!(admin.upload(artifacts::SLEEPER, "sleeper").await.0, 201);
}

fn keyed(seconds: &str, key: &str, limit: u32) -> Value {
    let mut job = sleeper(seconds);
    job["concurrency_key"] = json!(key);
    job["concurrency_limit"] = json!(limit);
    job
}

/// Jobs with a concurrency key run at most their limit at once; the others wait queued,
/// uncounted, while other keys' and keyless jobs run; a key is its tenant's own.
#[tokio::test(flavor = "multi_thread")]
async fn a_concurrency_key_runs_at_most_its_limit_at_once() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(4, data.path(), &["--token", ADMIN]);
    let admin = Caller::admin(&server);
    let (acme, globex) =
        (admin.tenant(&server, "acme").await, admin.tenant(&server, "globex").await);
    assert_eq!(acme.upload(artifacts::SLEEPER, "sleeper").await.0, 201);
    assert_eq!(globex.upload(artifacts::SLEEPER, "sleeper").await.0, 201);
    let long = acme.submit(vec![keyed("60", "customer-42", 1); 2]).await;
    acme.wait_for_start(long[0]).await;
    // The same key in another tenant is another key: it runs beside acme's.
    let theirs = globex.submit(vec![keyed("0", "customer-42", 1)]).await;
    assert_eq!(globex.wait(theirs[0]).await["state"], "succeeded");
    let waiting = acme.job(long[1]).await;
    assert_eq!(
        (waiting["state"].as_str(), waiting["attempts"].as_u64()),
        (Some("queued"), Some(0))
    );
    assert_eq!(waiting["concurrency_key"], "customer-42", "{waiting}");
    assert_eq!(waiting["concurrency_limit"], 1, "{waiting}");
    for id in &long {
        assert_eq!(acme.post(&format!("/v1/jobs/{id}/cancel"), json!({})).await.0, 200);
    }

    let mut jobs = vec![keyed("0.2", "a", 2); 6];
    jobs.extend(vec![keyed("0.2", "b", 1); 3]);
    jobs.extend(vec![sleeper("0.05"); 4]);
    let ids = acme.submit(jobs).await;
    let mut ended = Vec::new();
    for id in ids {
        let job = acme.wait(id).await;
        assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("succeeded"), Some(1)));
        ended.push(job);
    }
    let of = |key: &str| -> Vec<Value> {
        ended.iter().filter(|job| job["concurrency_key"] == key).cloned().collect()
    };
    assert_eq!(most_at_once(&of("a")), 2, "key a: at most 2, and 2 reached");
    assert_eq!(most_at_once(&of("b")), 1, "key b: one at a time");

    // Bad keys and limits are 400s that store nothing.
    for bad in [
        json!({ "module": "sleeper", "concurrency_key": "" }),
        json!({ "module": "sleeper", "concurrency_key": "a:b" }),
        json!({ "module": "sleeper", "concurrency_key": "k", "concurrency_limit": 0 }),
        json!({ "module": "sleeper", "concurrency_key": "k", "concurrency_limit": 10001 }),
        json!({ "module": "sleeper", "concurrency_limit": 2 }),
    ] {
        let (status, body) = acme.post("/v1/jobs", bad.clone()).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{bad}");
    }
}

/// On PostgreSQL a key's limit holds across hosts; the CLI submits with a key.
#[tokio::test(flavor = "multi_thread")]
async fn a_concurrency_key_holds_across_hosts() {
    let url = postgres::shared().database();
    let (a, _da) = super::cluster::host(&url, "a", 2, &[]);
    let (b, _db) = super::cluster::host(&url, "b", 2, &[]);
    a.upload(artifacts::SLEEPER, "sleeper").await;
    let mut ids = a.submit_batch(vec![keyed("0.2", "customer-42", 1); 6]).await;
    let submitted = super::server::ok(super::server::verb(
        &b,
        &[
            "submit",
            "--concurrency-key",
            "customer-42",
            "--concurrency-limit",
            "1",
            "sleeper",
            "0.2",
        ],
    ));
    ids.push(submitted.trim().parse().expect("the job's id"));
    let mut ended = Vec::new();
    for id in ids {
        let job = a.wait(id).await;
        assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("succeeded"), Some(1)));
        assert_eq!(job["concurrency_key"], "customer-42");
        ended.push(job);
    }
    assert_eq!(most_at_once(&ended), 1, "one at a time across both hosts");
}

/// Fair shares: one tenant's backlog does not hold another's few jobs behind it; each of
/// the second tenant's jobs waits for about one of the first's, not for its whole backlog.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_backlog_does_not_delay_anothers_few_jobs() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--token", ADMIN]);
    let admin = Caller::admin(&server);
    let (acme, globex) =
        (admin.tenant(&server, "acme").await, admin.tenant(&server, "globex").await);
    admin.set_quotas("globex", json!({ "weight": 2 })).await;
    let (_, quotas) = globex.get("/v1/tenants/globex/quotas").await;
    assert_eq!(quotas["weight"], 2, "{quotas}");
    assert_eq!(acme.upload(artifacts::SLEEPER, "sleeper").await.0, 201);
    assert_eq!(globex.upload(artifacts::HELLO, "hello").await.0, 201);
    // 150 jobs of 20 ms on one worker: three seconds of backlog.
    let backlog = acme.submit(vec![sleeper("0.02"); 150]).await;
    acme.wait_for_start(backlog[0]).await;
    for _ in 0..5 {
        let ids = globex.submit(vec![json!({ "module": "hello" })]).await;
        assert_eq!(globex.wait(ids[0]).await["state"], "succeeded");
    }
    let (_, queued) = acme.get("/v1/jobs?state=queued&limit=1000").await;
    let left = queued["jobs"].as_array().unwrap().len();
    assert!(left >= 100, "globex's five waited for {} of acme's jobs", 150 - left);
    let bad = json!({ "weight": 0 });
    let (status, _) = admin.send(Method::PUT, "/v1/tenants/acme/quotas", Some(bad)).await;
    assert_eq!(status, 400);
    for id in backlog {
        acme.post(&format!("/v1/jobs/{id}/cancel"), json!({})).await;
    }
}

/// The jobs' start times, earliest first.
fn start_times(jobs: &[Value]) -> Vec<std::time::SystemTime> {
    let mut starts: Vec<std::time::SystemTime> = jobs
        .iter()
        .map(|job| humantime::parse_rfc3339(job["started_at"].as_str().unwrap()).unwrap())
        .collect();
    starts.sort();
    starts
}

/// The most jobs started within any `window`.
fn most_started_within(jobs: &[Value], window: Duration) -> usize {
    let starts = start_times(jobs);
    (0..starts.len())
        .map(|i| {
            starts[i..]
                .iter()
                .take_while(|at| at.duration_since(starts[i]).unwrap() < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// From the first start to the last.
fn start_span(jobs: &[Value]) -> Duration {
    let starts = start_times(jobs);
    starts.last().unwrap().duration_since(starts[0]).unwrap()
}

/// The shortest time between two starts in a row.
fn shortest_gap(jobs: &[Value]) -> Duration {
    let starts = start_times(jobs);
    starts.windows(2).map(|pair| pair[1].duration_since(pair[0]).unwrap()).min().unwrap()
}

/// A job claimed ahead of its token starts at its slot, not when claimed: at 50 a second a
/// claim may come a whole token (20 ms) early, so without the hold the first two jobs would
/// start together (the second claimed as soon as the first took the one whole token).
#[tokio::test(flavor = "multi_thread")]
async fn a_job_claimed_ahead_of_its_token_waits_for_its_slot() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &["--token", ADMIN]);
    let acme = Caller::admin(&server).tenant(&server, "acme").await;
    assert_eq!(acme.upload(artifacts::HELLO, "hello").await.0, 201);
    let set = json!({ "per": 50, "window_ms": 1000 });
    assert_eq!(acme.send(Method::PUT, "/v1/rate-limits/fast", Some(set)).await.0, 200);
    let ids = acme.submit(vec![json!({ "module": "hello", "rate_limits": ["fast"] }); 6]).await;
    let mut ended = Vec::new();
    for id in ids {
        ended.push(acme.wait(id).await);
    }
    let gap = shortest_gap(&ended);
    assert!(gap >= Duration::from_millis(10), "two starts {gap:?} apart (slots are 20 ms)");
}

/// A named rate limit spreads the starts of the jobs that use it: never more than its rate
/// in a window, each at its first attempt, while jobs without it run at once; a job naming a
/// limit its tenant lacks is refused. The CLI sets, lists and removes limits.
#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_spreads_the_starts_of_its_jobs() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(4, data.path(), &["--token", ADMIN]);
    let admin = Caller::admin(&server);
    let acme = admin.tenant(&server, "acme").await;
    assert_eq!(acme.upload(artifacts::HELLO, "hello").await.0, 201);
    let set = json!({ "per": 5, "window_ms": 1000 });
    let (status, limit) = acme.send(Method::PUT, "/v1/rate-limits/api", Some(set)).await;
    assert_eq!(status, 200, "{limit}");
    assert_eq!((limit["burst"].as_u64(), limit["available"].as_u64()), (Some(1), Some(1)));
    let limited = json!({ "module": "hello", "rate_limits": ["api"] });
    let ids = acme.submit(vec![limited; 10]).await;
    let (_, limits) = acme.get("/v1/rate-limits").await;
    assert!(limits[0]["waiting"].as_u64().unwrap() >= 5, "{limits}");
    let free = acme.submit(vec![json!({ "module": "hello" }); 5]).await;
    for id in free {
        assert_eq!(acme.wait(id).await["state"], "succeeded");
    }
    let mut ended = Vec::new();
    for id in ids {
        let job = acme.wait(id).await;
        assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("succeeded"), Some(1)));
        assert_eq!(job["rate_limits"], json!(["api"]));
        ended.push(job);
    }
    // At most 5 in any second; a start may lag its slot by a little (+1).
    assert!(most_started_within(&ended, Duration::from_secs(1)) <= 6, "at most 5 (+1) a second");
    // Nine intervals of 200 ms.
    assert!(start_span(&ended) >= Duration::from_millis(1500), "{:?}", start_span(&ended));

    let (status, body) =
        acme.post("/v1/jobs", json!({ "module": "hello", "rate_limits": ["nope"] })).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("nope"), "{body}");
    let token = acme.token.clone();
    let run = |args: &[&str]| {
        super::harness::wasmpool(args)
            .env("WASMPOOL_SERVER", &server.url)
            .env("WASMPOOL_TOKEN", &token)
            .output()
            .expect("runs")
    };
    let shown = super::server::ok(run(&["limits", "set", "openai", "100/1m", "--burst", "20"]));
    assert!(shown.contains("openai") && shown.contains("100/60000ms"), "{shown}");
    let listed = super::server::ok(run(&["limits", "ls", "--json"]));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    super::server::ok(run(&["limits", "rm", "openai"]));
    assert_eq!(acme.send(Method::DELETE, "/v1/rate-limits/openai", None).await.0, 404);
}

/// On PostgreSQL a limit holds across hosts: two hosts share its tokens.
#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_holds_across_hosts() {
    let url = postgres::shared().database();
    let (a, _da) = super::cluster::host(&url, "a", 2, &[]);
    let (b, _db) = super::cluster::host(&url, "b", 2, &[]);
    // Both hosts compile the module first: a host compiling it on first use would start the
    // jobs it claimed meanwhile all at once when the compile ends.
    a.upload(artifacts::HELLO, "hello").await;
    b.upload(artifacts::HELLO, "hello").await;
    let (status, body) = a
        .send(
            a.request(Method::PUT, "/v1/rate-limits/api")
                .json(&json!({ "per": 10, "window_ms": 1000 })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ids = b.submit_batch(vec![json!({ "module": "hello", "rate_limits": ["api"] }); 25]).await;
    let mut ended = Vec::new();
    for id in ids {
        let job = a.wait(id).await;
        assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("succeeded"), Some(1)));
        ended.push(job);
    }
    let most = most_started_within(&ended, Duration::from_secs(1));
    assert!(most <= 11, "per + burst a second: {most} in {:?}", start_span(&ended));
    assert!(start_span(&ended) >= Duration::from_millis(2000), "{:?}", start_span(&ended));
}

//! W12 and W13, flow control (issue 23). W12, fair shares on the SQLite store: tenant `big`
//! queues a backlog of no-op jobs, tenant `small` submits one job every 100 ms (10 a second)
//! while the backlog drains; `small`'s wait (submitted to started, by the service's own
//! times) is what fair shares bound. W13, a rate limit on PostgreSQL: two hosts of two
//! workers each, a limit of 100 starts a second (burst 1) and jobs that all name it; the most
//! starts in any one-second window and the mean rate.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::plan::{Sizes, Workload};
use crate::postgres::Postgres;
use crate::report::{Row, Target, Unit};
use crate::server::Server;
use crate::stats;

const ADMIN: &str = "bench-admin";
/// Submissions of the small tenant: one every this long.
const SMALL_EVERY: Duration = Duration::from_millis(100);
/// The rate limit of W13, starts per second.
const RATE: u64 = 100;

/// The rows of W12 and W13.
pub fn rows(workload: Workload, s: &Sizes) -> Vec<Row> {
    let num = |key, label: String, target| Row { workload, key, label, unit: Unit::Number, target };
    if workload == Workload::W12 {
        let what =
            format!("fair shares: a backlog of {} beside 10 jobs/s, 2 workers", s.w12_backlog);
        vec![
            num(
                "small_wait_p50_ms",
                format!("{what}: the 10/s tenant's wait p50, ms"),
                Target::None,
            ),
            num("small_wait_p99_ms", format!("{what}: its wait p99, ms"), Target::None),
            num("small_jobs", format!("{what}: its jobs while the backlog drained"), Target::None),
            num("drain_s", format!("{what}: the backlog drained in, s"), Target::None),
        ]
    } else {
        let what =
            format!("rate limit {RATE}/s, {} jobs, 2 PostgreSQL hosts × 2 workers", s.w13_jobs);
        vec![
            num(
                "max_per_s",
                format!("{what}: most starts in any one-second window"),
                Target::AtMost(RATE as f64, "starts"),
            ),
            num("mean_per_s", format!("{what}: mean starts/s"), Target::None),
        ]
    }
}

/// A client of `server` with a token.
struct As<'a> {
    server: &'a Server,
    token: String,
}

impl As<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut request = self
            .server
            .http
            .request(method, format!("{}{path}", self.server.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{path}: {status} {text}");
        }
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
    }

    async fn upload(&self, path: &str, name: &str) -> Result<()> {
        let response = self
            .server
            .http
            .post(format!("{}/v1/modules?name={name}", self.server.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/wasm")
            .body(std::fs::read(path)?)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("upload {name}: {}", response.status());
        }
        Ok(())
    }

    async fn submit(&self, jobs: Vec<Value>) -> Result<Vec<i64>> {
        let accepted = self
            .send(reqwest::Method::POST, "/v1/jobs/batch", Some(&json!({ "jobs": jobs })))
            .await?;
        let jobs = accepted["jobs"].as_array().context("accepted jobs")?;
        jobs.iter().map(|job| job["id"].as_i64().context("an id")).collect()
    }

    /// Whether the tenant still has queued jobs.
    async fn any_queued(&self) -> Result<bool> {
        let page = self.send(reqwest::Method::GET, "/v1/jobs?state=queued&limit=1", None).await?;
        Ok(page["jobs"].as_array().is_some_and(|jobs| !jobs.is_empty()))
    }

    /// Waits (bounded) for job `id` to end and returns it.
    async fn ended(&self, id: i64) -> Result<Value> {
        for _ in 0..60 {
            let job = self
                .send(reqwest::Method::GET, &format!("/v1/jobs/{id}/wait?timeout_ms=10000"), None)
                .await?;
            if !matches!(job["state"].as_str(), Some("queued" | "running")) {
                return Ok(job);
            }
        }
        bail!("job {id} did not end within ten minutes")
    }
}

async fn tenant<'a>(server: &'a Server, admin: &As<'_>, name: &str) -> Result<As<'a>> {
    let made = admin
        .send(
            reqwest::Method::POST,
            "/v1/tokens",
            Some(&json!({ "tenant": name, "scope": "admin" })),
        )
        .await?;
    Ok(As { server, token: made["token"].as_str().context("a token")?.to_string() })
}

fn at(job: &Value, field: &str) -> Result<SystemTime> {
    let text = job[field].as_str().with_context(|| format!("no {field} in {job}"))?;
    Ok(humantime::parse_rfc3339(text)?)
}

/// W12 (see the module's comment).
pub async fn fair_share(binary: &Path, backlog: usize) -> Result<Vec<(&'static str, f64)>> {
    let server = Server::start_with(binary, 2, None, &["--token", ADMIN]).await?;
    let admin = As { server: &server, token: ADMIN.to_string() };
    let (big, small) =
        (tenant(&server, &admin, "big").await?, tenant(&server, &admin, "small").await?);
    big.upload(artifacts::HELLO, "bench").await?;
    small.upload(artifacts::HELLO, "bench").await?;
    let mut left = backlog;
    while left > 0 {
        let size = left.min(1000);
        big.submit(vec![json!({ "module": "bench" }); size]).await?;
        left -= size;
    }
    let started = Instant::now();
    let mut ids = Vec::new();
    let mut tick = tokio::time::interval(SMALL_EVERY);
    while big.any_queued().await? {
        tick.tick().await;
        ids.extend(small.submit(vec![json!({ "module": "bench" })]).await?);
        if started.elapsed() > Duration::from_secs(240) {
            bail!("the backlog did not drain within 240 s");
        }
    }
    let drain = started.elapsed();
    let mut waits = Vec::with_capacity(ids.len());
    for id in &ids {
        let job = small.ended(*id).await?;
        let wait =
            at(&job, "started_at")?.duration_since(at(&job, "submitted_at")?).unwrap_or_default();
        waits.push(wait.as_secs_f64() * 1e3);
    }
    server.stop().await?;
    let waits = stats::sorted(waits);
    Ok(vec![
        ("small_wait_p50_ms", stats::percentile(&waits, 50).context("no small job")?),
        ("small_wait_p99_ms", stats::percentile(&waits, 99).context("no small job")?),
        ("small_jobs", ids.len() as f64),
        ("drain_s", drain.as_secs_f64()),
    ])
}

/// W13 (see the module's comment).
pub async fn rate_limit(
    binary: &Path,
    postgres: &Postgres,
    jobs: usize,
) -> Result<Vec<(&'static str, f64)>> {
    let database = postgres.database()?;
    let measured = rate_limit_on(binary, &database.url, jobs).await;
    if let Err(e) = postgres.drop_database(&database) {
        eprintln!("warning: {e:#}");
    }
    measured
}

async fn rate_limit_on(binary: &Path, url: &str, jobs: usize) -> Result<Vec<(&'static str, f64)>> {
    let a = Server::start_on(binary, 2, Some((url, "a"))).await?;
    let b = Server::start_on(binary, 2, Some((url, "b"))).await?;
    for server in [&a, &b] {
        server.upload(artifacts::HELLO, "bench").await?;
    }
    let limit = json!({ "per": RATE, "window_ms": 1000 });
    let response =
        a.http.put(format!("{}/v1/rate-limits/bench", a.url)).json(&limit).send().await?;
    if !response.status().is_success() {
        bail!("setting the limit: {}", response.status());
    }
    let job = json!({ "module": "bench", "rate_limits": ["bench"] });
    let mut ids = Vec::with_capacity(jobs);
    let (mut left, mut turn) = (jobs, 0);
    while left > 0 {
        let size = left.min(1000);
        let host = if turn % 2 == 0 { &a } else { &b };
        ids.extend(host.submit_batch(vec![job.clone(); size]).await?);
        left -= size;
        turn += 1;
    }
    let bound = Duration::from_secs(60) + Duration::from_millis(20) * jobs as u32;
    a.wait_for_ended(jobs as u64, Duration::from_millis(100), bound).await?;
    let mut starts = Vec::with_capacity(ids.len());
    for id in &ids {
        starts.push(at(&a.get(&format!("/v1/jobs/{id}")).await?, "started_at")?);
    }
    a.stop().await?;
    b.stop().await?;
    starts.sort();
    let most = (0..starts.len())
        .map(|i| {
            let from = starts[i];
            starts[i..]
                .iter()
                .take_while(|t| t.duration_since(from).unwrap_or_default() < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    let span = starts
        .last()
        .zip(starts.first())
        .map(|(last, first)| last.duration_since(*first).unwrap_or_default());
    let mean = span
        .filter(|span| !span.is_zero())
        .map_or(0.0, |span| (starts.len() - 1) as f64 / span.as_secs_f64());
    Ok(vec![("max_per_s", most as f64), ("mean_per_s", mean)])
}

//! W10 and W11, workflows (issue 22) on the SQLite store: a chain of no-op jobs (the time
//! per link, and what a link costs beyond its job's own run), and a fan-out of no-op jobs
//! with one fan-in job after them all (against the same jobs submitted independently, and
//! the delay from the last parent's end to the fan-in's start).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::server::Server;
use crate::stats;

const POLL: Duration = Duration::from_millis(5);

/// W10: `links` `hello` jobs, each after the one before, on 2 workers (one runs at a time).
pub async fn chain(binary: &Path, links: usize) -> Result<Vec<(&'static str, f64)>> {
    let server = Server::start_with(binary, 2, None, &max_batch(links)).await?;
    server.upload(artifacts::HELLO, "bench").await?;
    let jobs: Vec<Value> = (0..links)
        .map(|i| {
            let after: Vec<String> = if i == 0 { vec![] } else { vec![format!("l{}", i - 1)] };
            json!({ "name": format!("l{i}"), "module": "bench", "after": after })
        })
        .collect();
    let started = Instant::now();
    server.submit_batch(jobs).await?;
    server.wait_for_ended(links as u64, POLL, limit(links)).await?;
    let link_ms = started.elapsed().as_secs_f64() * 1e3 / links as f64;
    // What each job ran for, from the jobs' own times: a link's cost beyond it.
    let ran_ms = mean_run_ms(&server, links).await?;
    server.stop().await?;
    Ok(vec![("link_ms", link_ms), ("link_overhead_ms", link_ms - ran_ms)])
}

/// W11: `width` `hello` jobs and one after them all, on 2 workers, against the same `width`
/// jobs alone (on a fresh server each).
pub async fn fan_in(binary: &Path, width: usize) -> Result<Vec<(&'static str, f64)>> {
    let alone = {
        let server = Server::start_with(binary, 2, None, &max_batch(width + 1)).await?;
        server.upload(artifacts::HELLO, "bench").await?;
        let started = Instant::now();
        server.submit_batch(vec![json!({ "module": "bench" }); width]).await?;
        server.wait_for_ended(width as u64, POLL, limit(width)).await?;
        let elapsed = started.elapsed();
        server.stop().await?;
        elapsed
    };
    let server = Server::start_with(binary, 2, None, &max_batch(width + 1)).await?;
    server.upload(artifacts::HELLO, "bench").await?;
    let mut jobs: Vec<Value> =
        (0..width).map(|i| json!({ "name": format!("p{i}"), "module": "bench" })).collect();
    let parents: Vec<String> = (0..width).map(|i| format!("p{i}")).collect();
    jobs.push(json!({ "name": "join", "module": "bench", "after": parents }));
    let started = Instant::now();
    let ids = server.submit_batch(jobs).await?;
    server.wait_for_ended(width as u64 + 1, POLL, limit(width)).await?;
    let elapsed = started.elapsed();
    let join = server.get(&format!("/v1/jobs/{}", ids[width])).await?;
    let last_parent_end = last_end(&server, ids[0], ids[width - 1]).await?;
    let join_start = micros(&join["started_at"]).context("the fan-in's start")?;
    let delays = stats::sorted(small_fan_in_delays(&server, SMALL_FAN_INS).await?);
    server.stop().await?;
    Ok(vec![
        ("fan_s", elapsed.as_secs_f64()),
        ("alone_s", alone.as_secs_f64()),
        ("fan_ratio", elapsed.as_secs_f64() / alone.as_secs_f64()),
        ("fan_in_delay_ms", (join_start - last_parent_end) as f64 / 1e3),
        ("fan_in_delay_p50_ms", stats::percentile(&delays, 50).context("no delay")?),
        ("fan_in_delay_p99_ms", stats::percentile(&delays, 99).context("no delay")?),
    ])
}

/// Small fan-ins timed one after another on an idle pool, for the delay's distribution.
const SMALL_FAN_INS: usize = 200;

/// The delay from the last parent's end to the fan-in's start (ms) of `n` fan-ins of four
/// `hello` jobs each, submitted one at a time once the previous one has ended.
async fn small_fan_in_delays(server: &Server, n: usize) -> Result<Vec<f64>> {
    let mut delays = Vec::with_capacity(n);
    for _ in 0..n {
        let mut jobs: Vec<Value> =
            (0..4).map(|i| json!({ "name": format!("p{i}"), "module": "bench" })).collect();
        jobs.push(json!({ "module": "bench", "after": ["p0", "p1", "p2", "p3"] }));
        let ids = server.submit_batch(jobs).await?;
        let join = server.get(&format!("/v1/jobs/{}/wait?timeout_ms=60000", ids[4])).await?;
        let start = micros(&join["started_at"]).context("the fan-in's start")?;
        let mut last = i64::MIN;
        for id in &ids[..4] {
            let parent = server.get(&format!("/v1/jobs/{id}")).await?;
            last = last.max(micros(&parent["finished_at"]).context("a parent's end")?);
        }
        delays.push((start - last) as f64 / 1e3);
    }
    Ok(delays)
}

fn max_batch(jobs: usize) -> Vec<&'static str> {
    // A leaked string: the harness makes a handful per run.
    let n: &'static str = Box::leak(jobs.max(1000).to_string().into_boxed_str());
    vec!["--max-batch", n]
}

fn limit(jobs: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(20) * jobs as u32
}

/// A timestamp of the API (RFC 3339) in µs since the epoch.
fn micros(value: &Value) -> Option<i64> {
    let text = value.as_str()?;
    let time = humantime::parse_rfc3339(text).ok()?;
    Some(time.duration_since(std::time::UNIX_EPOCH).ok()?.as_micros() as i64)
}

/// Every job of the server, a page of 1,000 at a time.
async fn all_jobs(server: &Server, n: usize) -> Result<Vec<Value>> {
    let mut jobs = Vec::with_capacity(n);
    let mut cursor = String::new();
    loop {
        let page = server.get(&format!("/v1/jobs?limit=1000{cursor}")).await?;
        jobs.extend(page["jobs"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return Ok(jobs),
        }
    }
}

/// The mean run time of the server's jobs (start on a worker to end), ms.
async fn mean_run_ms(server: &Server, n: usize) -> Result<f64> {
    let jobs = all_jobs(server, n).await?;
    let runs: Vec<i64> = jobs
        .iter()
        .filter_map(|job| Some(micros(&job["finished_at"])? - micros(&job["started_at"])?))
        .collect();
    Ok(runs.iter().sum::<i64>() as f64 / runs.len().max(1) as f64 / 1e3)
}

/// The latest end among the jobs with ids `first..=last`, µs since the epoch.
async fn last_end(server: &Server, first: i64, last: i64) -> Result<i64> {
    let jobs = all_jobs(server, (last - first + 1) as usize).await?;
    jobs.iter()
        .filter(|job| job["id"].as_i64().is_some_and(|id| (first..=last).contains(&id)))
        .filter_map(|job| micros(&job["finished_at"]))
        .max()
        .context("no parent ended")
}

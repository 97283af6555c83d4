//! A `wasmpool serve` (release build) on a free loopback port with a fresh data directory,
//! and the few HTTP calls the workloads make to it. Only ever talks to 127.0.0.1.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Arguments every `serve` of this run gets (`--serve-args`), for A/B runs of an option.
pub static SERVE_ARGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// The job states a job ends in.
pub const ENDED: [&str; 5] = ["succeeded", "failed", "timed_out", "cancelled", "skipped"];

/// A running service, killed on drop (or by [`Server::stop`], which also waits for it).
pub struct Server {
    child: Child,
    pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// A client with a connection pool (keep-alive, like a real client).
    pub http: reqwest::Client,
    // Declared after `child`, so on drop the process is killed before its directory goes.
    _data: tempfile::TempDir,
}

impl Server {
    /// Starts `binary serve` with `workers` workers on its default store (SQLite in its
    /// data directory) and waits for its "listening on" line.
    pub async fn start(binary: &Path, workers: usize) -> Result<Server> {
        Server::start_on(binary, workers, None).await
    }

    /// Like [`Server::start`], on the shared store at `url` as the host `node` when
    /// `shared` is `Some((url, node))`.
    pub async fn start_on(
        binary: &Path,
        workers: usize,
        shared: Option<(&str, &str)>,
    ) -> Result<Server> {
        Server::start_with(binary, workers, shared, &[]).await
    }

    /// Like [`Server::start_on`], with `extra` arguments to `serve` (after the harness's
    /// `--serve-args`, if any).
    pub async fn start_with(
        binary: &Path,
        workers: usize,
        shared: Option<(&str, &str)>,
        extra: &[&str],
    ) -> Result<Server> {
        let data = tempfile::tempdir()?;
        let mut command = Command::new(binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--workers", &workers.to_string()])
            .arg("--data")
            .arg(data.path())
            // The store is chosen here, never by the caller's environment.
            .env_remove("WASMPOOL_STORE");
        if let Some((url, node)) = shared {
            command.args(["--store", url, "--node", node]);
        }
        command.args(SERVE_ARGS.get().map_or(&[][..], Vec::as_slice)).args(extra);
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("the server did not say where it listens within 30 s")??
            .unwrap_or_default();
        let Some(url) = line.strip_prefix("wasmpool listening on ") else {
            bail!("unexpected first line from the server: {line:?}")
        };
        ensure!(url.starts_with("http://127.0.0.1:"), "the server listens on {url}, not loopback");
        // Keep reading stdout so the server never writes into a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server { child, pid, url: url.to_string(), http: reqwest::Client::new(), _data: data })
    }

    /// The server's data directory (its SQLite database is there).
    pub fn data_dir(&self) -> &Path {
        self._data.path()
    }

    /// The server process's pid (its workers are other processes).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Kills the server and waits (at most 10 s) until it is gone, so the next measurement
    /// does not share the machine with its teardown. Its workers die with it.
    pub async fn stop(mut self) -> Result<()> {
        self.child.start_kill()?;
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .context("the server did not exit within 10 s of SIGKILL")??;
        Ok(())
    }

    /// Uploads a module under a name.
    pub async fn upload(&self, path: &str, name: &str) -> Result<()> {
        let bytes = tokio::fs::read(path).await.with_context(|| format!("cannot read {path}"))?;
        let response = self
            .http
            .post(format!("{}/v1/modules?name={name}", self.url))
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("upload of {name} failed: {}", response.text().await?);
        }
        Ok(())
    }

    /// POSTs JSON (or nothing, with `Value::Null`), returns the JSON answer.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let request = self.http.post(format!("{}{path}", self.url));
        let request = if body.is_null() { request } else { request.json(body) };
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        ensure!(status.is_success(), "POST {path}: {status} {text}");
        if text.is_empty() { Ok(Value::Null) } else { Ok(serde_json::from_str(&text)?) }
    }

    /// GETs JSON; a non-success status is an error.
    pub async fn get(&self, path: &str) -> Result<Value> {
        let response = self.http.get(format!("{}{path}", self.url)).send().await?;
        let status = response.status();
        let text = response.text().await?;
        ensure!(status.is_success(), "GET {path}: {status} {text}");
        Ok(serde_json::from_str(&text)?)
    }

    /// Submits a batch; returns the ids.
    pub async fn submit_batch(&self, jobs: Vec<Value>) -> Result<Vec<i64>> {
        let count = jobs.len();
        let accepted = self.post("/v1/jobs/batch", &json!({ "jobs": jobs })).await?;
        let ids: Vec<i64> = accepted["jobs"]
            .as_array()
            .context("a batch answer without `jobs`")?
            .iter()
            .filter_map(|j| j["id"].as_i64())
            .collect();
        ensure!(ids.len() == count, "submitted {count} jobs, {} accepted", ids.len());
        Ok(ids)
    }

    /// The pool's job counts per state.
    pub async fn counts(&self) -> Result<BTreeMap<String, u64>> {
        let pool = self.get("/v1/pool").await?;
        let counts = pool["counts"].as_object().context("a pool view without `counts`")?;
        Ok(counts.iter().map(|(state, n)| (state.clone(), n.as_u64().unwrap_or(0))).collect())
    }

    /// Waits until `n` jobs have ended (any final state), polling the pool's counts every
    /// `interval`, for at most `limit`; then checks that they all succeeded.
    pub async fn wait_for_ended(&self, n: u64, interval: Duration, limit: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let counts = self.counts().await?;
            let ended: u64 = ENDED.iter().map(|s| counts.get(*s).copied().unwrap_or(0)).sum();
            if ended >= n {
                let succeeded = counts.get("succeeded").copied().unwrap_or(0);
                ensure!(succeeded >= n, "only {succeeded} of {n} jobs succeeded: {counts:?}");
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("only {ended} of {n} jobs ended within {limit:?}");
            }
            tokio::time::sleep(interval).await;
        }
    }
}

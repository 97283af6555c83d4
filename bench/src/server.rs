//! A `wasmpool serve` (release build) on a free loopback port with a fresh data directory.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running service, killed on drop.
pub struct Server {
    // Killed on drop (`kill_on_drop`).
    _child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// A client with a connection pool.
    pub http: reqwest::Client,
    _data: tempfile::TempDir,
}

impl Server {
    /// Starts `binary serve` with `workers` workers.
    pub async fn start(binary: &Path, workers: usize) -> Result<Server> {
        let data = tempfile::tempdir()?;
        let mut child = Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--workers", &workers.to_string()])
            .arg("--data")
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await??
            .unwrap_or_default();
        let Some(url) = line.strip_prefix("wasmpool listening on ") else {
            bail!("unexpected first line {line:?}")
        };
        // Keep reading stdout so the server never writes into a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server {
            _child: child,
            url: url.to_string(),
            http: reqwest::Client::new(),
            _data: data,
        })
    }

    /// Uploads a module under a name.
    pub async fn upload(&self, path: &str, name: &str) -> Result<()> {
        let bytes = std::fs::read(path)?;
        let response = self
            .http
            .post(format!("{}/v1/modules?name={name}", self.url))
            .body(bytes)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("upload of {name} failed: {}", response.text().await?);
        }
        Ok(())
    }

    /// POSTs JSON, returns the JSON answer.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let response = self.http.post(format!("{}{path}", self.url)).json(body).send().await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        if !status.is_success() {
            bail!("POST {path}: {status} {answer}");
        }
        Ok(answer)
    }

    /// GETs JSON.
    pub async fn get(&self, path: &str) -> Result<Value> {
        Ok(self.http.get(format!("{}{path}", self.url)).send().await?.json().await?)
    }

    /// Submits a batch; returns the ids.
    pub async fn submit_batch(&self, jobs: Vec<Value>) -> Result<Vec<i64>> {
        let accepted = self.post("/v1/jobs/batch", &json!({ "jobs": jobs })).await?;
        Ok(accepted["jobs"]
            .as_array()
            .context("jobs")?
            .iter()
            .filter_map(|j| j["id"].as_i64())
            .collect())
    }

    /// Waits until `n` jobs have ended (any terminal state), polling the pool's counts.
    pub async fn wait_for_ended(&self, n: u64, limit: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let pool = self.get("/v1/pool").await?;
            let counts = &pool["counts"];
            let ended: u64 = ["succeeded", "failed", "timed_out", "cancelled"]
                .iter()
                .map(|state| counts[state].as_u64().unwrap_or(0))
                .sum();
            if ended >= n {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("only {ended} of {n} jobs ended within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

//! W8 and W8c: what Python users pay. W8 runs a Python no-op task (`bench/noop_task.py`,
//! built by this `wasmpool build` with componentize-py) with `wasmpool map -w 2` and over
//! HTTP on 2 workers; W8c maps a no-op module over 100,000 items with the Python client's
//! `Pool.map` (`bench/client_map.py`); W9 maps plain Python functions, a no-op and fib(25),
//! with the client (`bench/function_map.py`). Python's own `Pool` is the other side of all.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use tokio::process::Command;

use crate::map;
use crate::server::Server;
use crate::throughput::{Store, Throughput};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// W8's rows: `map -w 2` and HTTP jobs/s of the Python no-op task.
pub async fn w8(binary: &Path, jobs: usize) -> Result<Vec<(&'static str, f64)>> {
    let task = noop_task(binary).await?;
    let task = task.to_str().context("the task's path is not UTF-8")?;
    let map = map::jobs_per_second(binary, task, jobs).await?;
    let http = Throughput {
        module: task,
        args: &[],
        total: jobs,
        batch: 500,
        workers: 2,
        store: Store::Sqlite,
    };
    Ok(vec![("jobs_per_s", map), ("http_jobs_per_s", http.jobs_per_second(binary).await?)])
}

/// W8c's row: the client's `Pool.map` of `hello` over `jobs` items on a 2-worker service.
pub async fn w8c(binary: &Path, jobs: usize) -> Result<Vec<(&'static str, f64)>> {
    let server = Server::start(binary, 2).await?;
    server.upload(artifacts::HELLO, "hello").await?;
    let count = jobs.to_string();
    let answer = client_script(binary, &server, "client_map.py", &["hello", &count]).await;
    server.stop().await?;
    let answer = answer?;
    ensure!(answer["jobs"] == jobs, "client_map.py ran {} jobs, not {jobs}", answer["jobs"]);
    Ok(vec![("jobs_per_s", rate(&answer, "jobs_per_s")?)])
}

/// W9's rows: plain functions (a no-op ×`jobs`, fib(25) ×`fib_jobs`) with the client's
/// `Pool.map` on a 2-worker service; the runner is built (once per checkout), uploaded and
/// compiled before the clock starts.
pub async fn w9(binary: &Path, jobs: usize, fib_jobs: usize) -> Result<Vec<(&'static str, f64)>> {
    let server = Server::start(binary, 2).await?;
    let args = [jobs.to_string(), fib_jobs.to_string()];
    let answer = client_script(binary, &server, "function_map.py", &[&args[0], &args[1]]).await;
    server.stop().await?;
    let answer = answer?;
    ensure!(answer["jobs"] == jobs, "function_map.py ran {} jobs, not {jobs}", answer["jobs"]);
    Ok(vec![
        ("jobs_per_s", rate(&answer, "jobs_per_s")?),
        ("fib_jobs_per_s", rate(&answer, "fib_jobs_per_s")?),
    ])
}

/// Runs `bench/SCRIPT SERVER ARGS...` with the system's Python and returns its JSON answer.
/// Plain functions' runner is built by `binary` with the checkout's componentize-py, into a
/// cache under `target/`.
async fn client_script(
    binary: &Path,
    server: &Server,
    script: &str,
    args: &[&str],
) -> Result<Value> {
    let out = Command::new("python3")
        .arg(Path::new(REPO).join("bench").join(script))
        .arg(&server.url)
        .args(args)
        .env_remove("WASMPOOL_TOKEN")
        .env_remove("WASMPOOL_RUNNER")
        .env("WASMPOOL_BIN", binary)
        .env("WASMPOOL_COMPONENTIZE_PY", componentize_py())
        .env("XDG_CACHE_HOME", Path::new(REPO).join("target/bench-python/cache"))
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(290), out)
        .await
        .with_context(|| format!("{script} took over 290 s"))??;
    ensure!(out.status.success(), "bench/{script} failed: {}", out.status);
    serde_json::from_slice(&out.stdout).with_context(|| format!("{script}'s answer"))
}

fn rate(answer: &Value, key: &str) -> Result<f64> {
    answer[key].as_f64().with_context(|| format!("no {key} in the answer {answer}"))
}

/// componentize-py: `WASMPOOL_COMPONENTIZE_PY`, else the virtualenv `.ci/setup` makes.
fn componentize_py() -> PathBuf {
    std::env::var_os("WASMPOOL_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(REPO).join(".venv/bin/componentize-py"))
}

/// The no-op task, built once per checkout into `target/bench-python/` (a build takes about
/// 30 s): componentize-py is `WASMPOOL_COMPONENTIZE_PY`, else the virtualenv `.ci/setup`
/// makes, as for the test suite.
async fn noop_task(binary: &Path) -> Result<PathBuf> {
    let source = Path::new(REPO).join("bench/noop_task.py");
    let dir = Path::new(REPO).join("target/bench-python");
    let built = dir.join("noop_task.wasm");
    let fresh = |built: &Path| -> Result<bool> {
        let age = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified());
        Ok(built.is_file() && age(built)? >= age(&source)?)
    };
    if fresh(&built)? {
        return Ok(built);
    }
    std::fs::create_dir_all(&dir)?;
    let tool = componentize_py();
    eprintln!("  building {} (once)", source.display());
    let status = Command::new(binary)
        .arg("build")
        .arg(&source)
        .arg("-o")
        .arg(&built)
        .env("WASMPOOL_COMPONENTIZE_PY", &tool)
        .stdout(Stdio::null())
        .status()
        .await?;
    ensure!(
        status.success(),
        "wasmpool build {} failed: {status} (run .ci/setup)",
        source.display()
    );
    Ok(built)
}

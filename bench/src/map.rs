//! W7 on wasmpool: `wasmpool map -w 2 hello.wasm -` over N lines of stdin, no store and no
//! HTTP: the pool alone against Python's `Pool(2)` (W8 runs it with a Python task). Timed from the command's start to its
//! exit, so it includes starting its two workers (Python's pool starts before its clock);
//! the module is compiled into a private cache by an untimed run first.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Jobs per second of one `map` of `module` over `jobs` inputs.
pub async fn jobs_per_second(binary: &Path, module: &str, jobs: usize) -> Result<f64> {
    let cache = tempfile::tempdir()?;
    run(binary, module, cache.path(), 2).await?;
    let elapsed = run(binary, module, cache.path(), jobs).await?;
    Ok(jobs as f64 / elapsed.as_secs_f64())
}

/// Runs `map` over `jobs` lines and returns its wall time; its output is discarded.
async fn run(binary: &Path, module: &str, cache: &Path, jobs: usize) -> Result<Duration> {
    let input: String = (0..jobs).map(|i| format!("{i}\n")).collect();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(["map", "-w", "2", module, "-"])
        .env("XDG_CACHE_HOME", cache)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {} map", binary.display()))?;
    let mut stdin = child.stdin.take().context("map's stdin")?;
    stdin.write_all(input.as_bytes()).await?;
    drop(stdin);
    let status = child.wait().await?;
    let elapsed = started.elapsed();
    ensure!(status.success(), "wasmpool map over {jobs} jobs failed: {status}");
    Ok(elapsed)
}

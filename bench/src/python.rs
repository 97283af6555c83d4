//! The Python side: runs `bench/python_pool.py WORKLOAD [--quick]` (standard library only,
//! `multiprocessing.Pool`) and reads the one JSON object it prints.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use tokio::process::Command;

use crate::demo;
use crate::plan::{Sizes, Workload};

/// The script, next to this crate's manifest, so the harness runs from any directory.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python_pool.py");

/// The interpreter: Python 3 from `PATH`.
const PYTHON: &str = "python3";

/// Runs the Python side of a workload once and returns its numbers by row key, checking it
/// ran the same counts as wasmpool.
pub async fn measure(workload: Workload, s: &Sizes) -> Result<Vec<(&'static str, f64)>> {
    let answer = run(workload.id(), s.quick, workload.limit()).await?;
    Ok(match workload {
        Workload::W1 | Workload::W3 | Workload::W7 | Workload::W8 | Workload::W8C => {
            let jobs = match workload {
                Workload::W1 => s.w1_jobs,
                Workload::W7 => s.w7_jobs,
                Workload::W8 => s.w8_jobs,
                Workload::W8C => s.w8c_jobs,
                _ => s.w3_jobs,
            };
            expect_count(&answer, "jobs", jobs)?;
            expect_count(&answer, "workers", 2)?;
            vec![("jobs_per_s", number(&answer, "jobs_per_s")?)]
        }
        Workload::W9 => {
            expect_count(&answer, "jobs", s.w9_jobs)?;
            expect_count(&answer, "fib_jobs", s.w9_fib_jobs)?;
            vec![
                ("jobs_per_s", number(&answer, "jobs_per_s")?),
                ("fib_jobs_per_s", number(&answer, "fib_jobs_per_s")?),
            ]
        }
        Workload::W2 => {
            expect_count(&answer, "rounds", s.w2_rounds)?;
            vec![("p50_us", number(&answer, "p50_us")?), ("p99_us", number(&answer, "p99_us")?)]
        }
        Workload::W4 => {
            expect_count(&answer, "jobs", demo::TASKS)?;
            expect_count(&answer, "workers", demo::WORKERS)?;
            let waited = flag(&answer, "fifth_waited")?;
            vec![
                ("wall_s", number(&answer, "wall_s")?),
                ("fifth_waited", if waited { 1.0 } else { 0.0 }),
            ]
        }
        Workload::W1Pg
        | Workload::W1Pg2
        | Workload::W2Off
        | Workload::W5
        | Workload::W5M
        | Workload::W6
        | Workload::W10
        | Workload::W11
        | Workload::W12
        | Workload::W13 => {
            anyhow::bail!("{} has no Python side", workload.id())
        }
    })
}

/// Runs one workload and returns its JSON answer. The process is killed if it has not
/// answered within `limit`.
async fn run(workload: &str, quick: bool, limit: Duration) -> Result<Value> {
    let mut command = Command::new(PYTHON);
    command.arg(SCRIPT).arg(workload);
    if quick {
        command.arg("--quick");
    }
    answer(command, workload, limit).await
}

/// Runs a Python script that prints one JSON object, killed if it has not answered within
/// `limit`, and returns the object.
pub async fn answer(mut command: Command, workload: &str, limit: Duration) -> Result<Value> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {command:?}"))?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .with_context(|| format!("{workload} did not finish within {limit:?}"))??;
    if !output.status.success() {
        bail!("{workload} failed: {}", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim())
        .with_context(|| format!("{workload} printed no JSON: {stdout:?}"))
}

/// A number from the answer.
pub fn number(answer: &Value, field: &str) -> Result<f64> {
    answer[field].as_f64().with_context(|| format!("no number `{field}` in {answer}"))
}

/// A boolean from the answer.
fn flag(answer: &Value, field: &str) -> Result<bool> {
    answer[field].as_bool().with_context(|| format!("no boolean `{field}` in {answer}"))
}

/// Checks that Python ran the same amount of work as wasmpool.
pub fn expect_count(answer: &Value, field: &str, expected: usize) -> Result<()> {
    let got = number(answer, field)?;
    ensure!(got == expected as f64, "Python ran {got} {field}, wasmpool {expected}");
    Ok(())
}

//! W6: what one job costs inside a worker, measured with the `wasmpool` library directly:
//! set up a fresh sandbox `Store`, instantiate and run a no-op guest from a compiled artifact
//! the sandbox already holds, on a current-thread tokio runtime like a worker's.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use wasmpool::job::{JobSpec, Limits, ModuleRef};
use wasmpool::sandbox::{Compiler, Flavor, Sandbox};

use crate::stats;

/// Per-job time in µs for one guest.
pub struct Cost {
    pub median_us: f64,
    pub mean_us: f64,
}

/// The cost for the `hello` module and the `hello` component: `jobs` timed runs of each,
/// after `warmup` untimed ones. Runs on a thread of its own (it blocks).
pub async fn measure(jobs: usize, warmup: usize) -> Result<(Cost, Cost)> {
    tokio::task::spawn_blocking(move || {
        let cache = tempfile::tempdir()?;
        let compiler = Compiler::new(cache.path());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let module = per_job(&compiler, &runtime, artifacts::HELLO, jobs, warmup)?;
        let component = per_job(&compiler, &runtime, artifacts::HELLO_COMPONENT, jobs, warmup)?;
        Ok((module, component))
    })
    .await?
}

/// The flag that makes the harness a confined W6 child (see [`measure_confined`]).
pub const CONFINED_FLAG: &str = "--w6-confined";

/// The same measurement in a child process confined exactly as a worker is (seccomp filter,
/// no capabilities, `no_new_privs`, rlimits): the A/B of what the worker hardening costs.
pub async fn measure_confined(jobs: usize, warmup: usize) -> Result<(Cost, Cost)> {
    let output = tokio::process::Command::new(std::env::current_exe()?)
        .args([CONFINED_FLAG, &jobs.to_string(), &warmup.to_string()])
        .output()
        .await?;
    ensure!(output.status.success(), "the confined W6 child failed: {:?}", output.status);
    let costs: [f64; 4] = serde_json::from_slice(&output.stdout)?;
    let cost = |median_us, mean_us| Cost { median_us, mean_us };
    Ok((cost(costs[0], costs[1]), cost(costs[2], costs[3])))
}

/// The confined child: compiles both guests (writing the cache needs calls a worker does not
/// make), confines itself while it has one thread, measures, and prints the four figures.
pub fn confined_child(jobs: usize, warmup: usize) -> Result<()> {
    let cache = tempfile::tempdir()?;
    let compiler = Compiler::new(cache.path());
    for guest in [artifacts::HELLO, artifacts::HELLO_COMPONENT] {
        let bytes = std::fs::read(guest)?;
        compiler.compile(&bytes, Flavor::Plain).map_err(|e| anyhow!("{guest}: {e}"))?;
    }
    wasmpool::confine::confine()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let module = per_job(&compiler, &runtime, artifacts::HELLO, jobs, warmup)?;
    let component = per_job(&compiler, &runtime, artifacts::HELLO_COMPONENT, jobs, warmup)?;
    let costs = [module.median_us, module.mean_us, component.median_us, component.mean_us];
    println!("{}", serde_json::to_string(&costs)?);
    Ok(())
}

fn per_job(
    compiler: &Compiler,
    runtime: &tokio::runtime::Runtime,
    guest: &str,
    jobs: usize,
    warmup: usize,
) -> Result<Cost> {
    let bytes = std::fs::read(guest).with_context(|| format!("cannot read {guest}"))?;
    let (module, _) = compiler
        .compile(&bytes, Flavor::Plain)
        .map_err(|e| anyhow!("cannot compile {guest}: {e}"))?;
    // The jobs have no timeout, so the watchdog never ends one.
    let mut sandbox = Sandbox::new(0, None, std::sync::Arc::new(|_| {}));
    let mut times = Vec::with_capacity(jobs);
    runtime.block_on(async {
        for i in 0..warmup + jobs {
            let job = spec(i, &module);
            let started = Instant::now();
            let result = sandbox.run(job).await.context("a job without a timeout overran")?;
            let elapsed = started.elapsed();
            ensure!(result.outcome.succeeded(), "{guest}: {}", result.outcome.describe());
            if i >= warmup {
                times.push(elapsed);
            }
        }
        Ok(())
    })?;
    summarize(&times)
}

/// A no-op job as the dispatcher would send it: no env, stdin or directories, default limits.
fn spec(i: usize, module: &ModuleRef) -> JobSpec {
    JobSpec {
        id: i.to_string(),
        module: module.clone(),
        args: vec!["hello".to_string()],
        env: Vec::new(),
        stdin: Vec::new(),
        dirs: Vec::new(),
        limits: Limits::default(),
        attempt: 1,
        job_env: false,
        call: None,
    }
}

fn summarize(times: &[Duration]) -> Result<Cost> {
    let sorted = stats::sorted_micros(times);
    Ok(Cost {
        median_us: stats::percentile(&sorted, 50).context("no jobs")?,
        mean_us: stats::mean(&sorted).context("no jobs")?,
    })
}

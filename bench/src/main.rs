//! `wasmpool-bench`: runs workloads W1–W8 (and W1 on PostgreSQL: W1pg, W1pg2; W2 with
//! `--sync off`: W2off; W5 at a million jobs: W5m; the Python client's map: W8c) on wasmpool
//! and, for W1–W4, W7, W8 and W8c, on Python's `multiprocessing.Pool`, and for W1–W3 on
//! Celery, alternating sides over several
//! repetitions; prints a table of medians (min–max), the ratios and the targets, and
//! appends it to `bench/RESULTS.md` unless `--quick`. See `bench/README.md`.
//!
//! This file parses the arguments and runs the plan; each workload lives in its own module.

mod celery;
mod demo;
mod flow;
mod latency;
mod map;
mod plan;
mod postgres;
mod python;
mod python_tasks;
mod record;
mod report;
mod sandbox_cost;
mod scale;
mod server;
mod sizes;
mod stats;
mod throughput;
mod workflows;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use plan::{Sizes, Workload};
use report::{Results, Side};

const USAGE: &str = "\
usage: bench/run [--quick] [--reps N] [--only W1,W1pg,...] [--no-celery] [--serve-args ARGS]

  --quick      every count divided by 20 and one repetition (unless --reps); the table is
               printed but not appended to bench/RESULTS.md
  --reps N     repetitions of every workload on each side (default 3)
  --only LIST  run only these workloads
               (default W1,W1pg,W1pg2,W2,W2off,W3,W4,W5,W5m,W6,W7,W8,W8c,W9)
  --no-celery  leave out the Celery column (W1, W2, W3)
  --serve-args ARGS  extra arguments for every `wasmpool serve`, split at spaces
               (an A/B of an option, e.g. --serve-args '--host-threads 1')

W1pg and W1pg2 use the PostgreSQL server WASMPOOL_BENCH_POSTGRES names (an admin URL), else
a throwaway cluster; without either they are skipped. Celery comes from a virtual
environment under target/ and uses the Redis at 127.0.0.1:6379, else a redis-server started
for the run; without them its column is skipped.";

struct Options {
    quick: bool,
    reps: usize,
    only: Vec<Workload>,
    celery: bool,
}

fn options() -> Result<Options> {
    let mut args = std::env::args().skip(1);
    let (mut quick, mut reps, mut only) = (false, None, Workload::ALL.to_vec());
    let mut celery = true;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--no-celery" => celery = false,
            "--serve-args" => {
                let list = args.next().context("--serve-args needs the arguments")?;
                let list = list.split_whitespace().map(str::to_string).collect();
                server::SERVE_ARGS.set(list).ok().context("--serve-args given twice")?;
            }
            "--reps" => {
                let n = args.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0);
                reps = Some(n.context("--reps needs a positive number")?);
            }
            "--only" => {
                let list = args.next().context("--only needs a list like W1,W3")?;
                only = list
                    .split(',')
                    .map(|id| Workload::parse(id).with_context(|| format!("no workload {id:?}")))
                    .collect::<Result<_>>()?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(Options { quick, reps: reps.unwrap_or(if quick { 1 } else { 3 }), only, celery })
}

fn main() -> Result<()> {
    // The confined W6 child must confine itself before any runtime thread exists.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(sandbox_cost::CONFINED_FLAG) {
        let count = |i: usize| args.get(i).and_then(|n| n.parse().ok()).context("a count");
        return sandbox_cost::confined_child(count(2)?, count(3)?);
    }
    run()
}

#[tokio::main]
async fn run() -> Result<()> {
    let options = options()?;
    let binary = wasmpool_binary()?;
    let sizes = Sizes::new(options.quick);
    let context = record::Circumstances::gather();
    let mut results = Results::default();
    let postgres = postgres_if_needed(&options.only, &mut results);
    let celery = celery_if_needed(&options, &mut results);
    if let Some(args) = server::SERVE_ARGS.get() {
        results.notes.push(format!("every serve ran with `{}`", args.join(" ")));
    }
    for rep in 1..=options.reps {
        for &workload in &options.only {
            if workload.needs_postgres() && postgres.is_none() {
                continue;
            }
            let mut sides = vec![Side::Wasmpool];
            if workload.has_python() {
                sides.push(Side::Python);
            }
            if workload.has_celery() && celery.is_some() {
                sides.push(Side::Celery);
            }
            // Alternate which side goes first, so neither always runs on a cooler machine.
            if rep % 2 == 0 {
                sides.reverse();
            }
            for side in sides {
                let name = format!("{} {} rep {rep}/{}", workload.id(), side.name(), options.reps);
                eprintln!("{name}...");
                let run =
                    plan::run(workload, side, &sizes, &binary, postgres.as_ref(), celery.as_ref());
                match tokio::time::timeout(workload.limit(), run).await {
                    Ok(Ok(metrics)) => {
                        eprintln!("{name}: {}", show(&metrics));
                        results.add(workload, side, metrics);
                    }
                    Ok(Err(e)) => fail(&mut results, &name, format!("{e:#}")),
                    Err(_) => fail(&mut results, &name, format!("over {:?}", workload.limit())),
                }
            }
        }
    }
    let rows: Vec<_> = options.only.iter().flat_map(|w| w.rows(&sizes)).collect();
    let section = format!(
        "## {} ({})\n\n{}\n{}",
        context.date,
        context.revision,
        context.describe(options.reps),
        report::table(&rows, &results)
    );
    println!("\n{section}");
    if options.quick {
        eprintln!("--quick: not recorded in bench/RESULTS.md");
    } else {
        let path = record::append(&section)?;
        eprintln!("recorded in {}", path.display());
    }
    // The throwaway cluster, if any, stops here (and its watchdog removes it).
    drop(postgres);
    if !results.errors.is_empty() {
        bail!("{} run(s) failed", results.errors.len());
    }
    Ok(())
}

/// The PostgreSQL server when a selected workload needs one; without one those workloads
/// are skipped with a note, not failed.
fn postgres_if_needed(only: &[Workload], results: &mut Results) -> Option<postgres::Postgres> {
    let needing: Vec<&str> = only.iter().filter(|w| w.needs_postgres()).map(|w| w.id()).collect();
    if needing.is_empty() {
        return None;
    }
    let ids = needing.join(", ");
    match postgres::Postgres::get() {
        Ok(postgres) => {
            let note = format!("{ids} ran on {}", postgres.describe());
            eprintln!("{note}");
            results.notes.push(note);
            Some(postgres)
        }
        Err(e) => {
            let note = format!("{ids} skipped: no PostgreSQL ({e:#})");
            eprintln!("{note}");
            results.notes.push(note);
            None
        }
    }
}

/// Celery and Redis when a selected workload has a Celery side and `--no-celery` was not
/// given; without them that column is skipped with a note, not failed.
fn celery_if_needed(options: &Options, results: &mut Results) -> Option<celery::Celery> {
    if !options.celery || !options.only.iter().any(|w| w.has_celery()) {
        return None;
    }
    match celery::Celery::get() {
        Ok(celery) => {
            let note = format!("Celery column: {}", celery.description);
            eprintln!("{note}");
            results.notes.push(note);
            Some(celery)
        }
        Err(e) => {
            let note = format!("Celery column skipped: {e:#}");
            eprintln!("{note}");
            results.notes.push(note);
            None
        }
    }
}

fn fail(results: &mut Results, name: &str, error: String) {
    eprintln!("{name} FAILED: {error}");
    results.errors.push(format!("{name}: {error}"));
}

fn show(metrics: &[(&str, f64)]) -> String {
    let shown: Vec<String> =
        metrics.iter().map(|(key, value)| format!("{key} {}", report::number(*value))).collect();
    shown.join(", ")
}

/// The release `wasmpool` built next to this program (`bench/run` builds both).
fn wasmpool_binary() -> Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find this program's path")?;
    let binary = me.with_file_name("wasmpool");
    if !binary.is_file() {
        bail!("{} is missing: run bench/run, which builds it", binary.display());
    }
    Ok(binary)
}

//! `wasmpool-bench`: runs workloads W1–W6 on wasmpool and, for W1–W4, on Python's
//! `multiprocessing.Pool`, alternating sides over several repetitions; prints a table of
//! medians (min–max), the ratio wasmpool/Python and the targets, and appends it to
//! `bench/RESULTS.md` unless `--quick`. See `bench/README.md`.
//!
//! This file parses the arguments and runs the plan; each workload lives in its own module.

mod demo;
mod latency;
mod plan;
mod python;
mod record;
mod report;
mod sandbox_cost;
mod scale;
mod server;
mod stats;
mod throughput;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use plan::{Sizes, Workload};
use report::{Results, Side};

const USAGE: &str = "\
usage: bench/run [--quick] [--reps N] [--only W1,W2,...]

  --quick      every count divided by 20 and one repetition (unless --reps); the table is
               printed but not appended to bench/RESULTS.md
  --reps N     repetitions of every workload on each side (default 3)
  --only LIST  run only these workloads (default W1,W2,W3,W4,W5,W6)";

struct Options {
    quick: bool,
    reps: usize,
    only: Vec<Workload>,
}

fn options() -> Result<Options> {
    let mut args = std::env::args().skip(1);
    let (mut quick, mut reps, mut only) = (false, None, Workload::ALL.to_vec());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
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
    Ok(Options { quick, reps: reps.unwrap_or(if quick { 1 } else { 3 }), only })
}

#[tokio::main]
async fn main() -> Result<()> {
    let options = options()?;
    let binary = wasmpool_binary()?;
    let sizes = Sizes::new(options.quick);
    let context = record::Circumstances::gather();
    let mut results = Results::default();
    for rep in 1..=options.reps {
        for &workload in &options.only {
            let mut sides = vec![Side::Wasmpool];
            if workload.has_python() {
                sides.push(Side::Python);
            }
            // Alternate which side goes first, so neither always runs on a cooler machine.
            if rep % 2 == 0 {
                sides.reverse();
            }
            for side in sides {
                let name = format!("{} {} rep {rep}/{}", workload.id(), side.name(), options.reps);
                eprintln!("{name}...");
                let run = plan::run(workload, side, &sizes, &binary);
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
    if !results.errors.is_empty() {
        bail!("{} run(s) failed", results.errors.len());
    }
    Ok(())
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

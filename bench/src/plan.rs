//! The workloads: their sizes (full or `--quick`), the rows they fill, how long each may
//! take, and running one side of one of them.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::celery::Celery;
use crate::postgres::Postgres;
use crate::report::{Row, Side, Target, Unit};
pub use crate::sizes::Sizes;
use crate::throughput::{Store, Throughput};
use crate::{demo, flow, latency, map, python, python_tasks, sandbox_cost, scale, workflows};

/// `--quick` divides every count by this (and `python_pool.py --quick` does the same).
pub const QUICK_DIVISOR: usize = 20;

/// The workloads, W1–W8, W1 on a shared PostgreSQL store with one host (`W1pg`) and two
/// (`W1pg2`), W2 with `serve --sync off` (`W2off`, the W2'), W5 at a million jobs
/// (`W5m`) and the Python client's `map` (`W8c`) (see `bench/README.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    W1,
    W1Pg,
    W1Pg2,
    W2,
    W2Off,
    W3,
    W4,
    W5,
    W5M,
    W6,
    W7,
    W8,
    W8C,
    W9,
    W10,
    W11,
    W12,
    W13,
}

impl Workload {
    pub const ALL: [Workload; 18] = [
        Workload::W1,
        Workload::W1Pg,
        Workload::W1Pg2,
        Workload::W2,
        Workload::W2Off,
        Workload::W3,
        Workload::W4,
        Workload::W5,
        Workload::W5M,
        Workload::W6,
        Workload::W7,
        Workload::W8,
        Workload::W8C,
        Workload::W9,
        Workload::W10,
        Workload::W11,
        Workload::W12,
        Workload::W13,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Workload::W1 => "W1",
            Workload::W1Pg => "W1pg",
            Workload::W1Pg2 => "W1pg2",
            Workload::W2 => "W2",
            Workload::W2Off => "W2off",
            Workload::W3 => "W3",
            Workload::W4 => "W4",
            Workload::W5 => "W5",
            Workload::W5M => "W5m",
            Workload::W6 => "W6",
            Workload::W7 => "W7",
            Workload::W8 => "W8",
            Workload::W8C => "W8c",
            Workload::W9 => "W9",
            Workload::W10 => "W10",
            Workload::W11 => "W11",
            Workload::W12 => "W12",
            Workload::W13 => "W13",
        }
    }

    pub fn parse(text: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.id().eq_ignore_ascii_case(text.trim()))
    }

    /// Whether it needs a PostgreSQL server (without one it is skipped, not failed).
    pub fn needs_postgres(self) -> bool {
        matches!(self, Workload::W1Pg | Workload::W1Pg2 | Workload::W13)
    }

    /// Whether Python runs it too (W1 on PostgreSQL does not: Python's side does not change
    /// with wasmpool's store, and W1's Python numbers are in the same table).
    /// W2off's Python side would be W2's again: its target is absolute.
    pub fn has_python(self) -> bool {
        matches!(
            self,
            Workload::W1
                | Workload::W2
                | Workload::W3
                | Workload::W4
                | Workload::W7
                | Workload::W8
                | Workload::W8C
                | Workload::W9
        )
    }

    /// Whether Celery (Redis broker and results) runs it too.
    pub fn has_celery(self) -> bool {
        matches!(self, Workload::W1 | Workload::W2 | Workload::W3)
    }

    /// The longest one side of one repetition may take before it counts as failed.
    pub fn limit(self) -> Duration {
        Duration::from_secs(match self {
            Workload::W1 | Workload::W1Pg | Workload::W1Pg2 | Workload::W3 | Workload::W7 => 300,
            Workload::W10 | Workload::W11 | Workload::W12 | Workload::W13 => 300,
            // W8 builds its Python task first (about 30 s, once per checkout).
            Workload::W8 | Workload::W8C | Workload::W9 => 300,
            Workload::W2 | Workload::W2Off | Workload::W4 | Workload::W6 => 120,
            Workload::W5 | Workload::W5M => 600,
        })
    }

    /// The table's rows for this workload.
    pub fn rows(self, s: &Sizes) -> Vec<Row> {
        let num = |key, label: String, target| Row {
            workload: self,
            key,
            label,
            unit: Unit::Number,
            target,
        };
        let check = |key, label: String| Row {
            workload: self,
            key,
            label,
            unit: Unit::Check,
            target: Target::Always,
        };
        let us = |limit| Target::AtMost(limit, "µs");
        match self {
            Workload::W1 => vec![num(
                "jobs_per_s",
                format!("throughput, {} no-op jobs, 2 workers, jobs/s", s.w1_jobs),
                Target::RatioAtLeast(1.5),
            )],
            Workload::W7 => vec![num(
                "jobs_per_s",
                format!("`wasmpool map -w 2`, {} no-op jobs, jobs/s", s.w7_jobs),
                Target::RatioAtLeast(3.0),
            )],
            Workload::W8 => vec![
                num(
                    "jobs_per_s",
                    format!("Python no-op task, `map -w 2`, {} jobs, jobs/s", s.w8_jobs),
                    Target::AtLeast(8000.0, "jobs/s"),
                ),
                num(
                    "http_jobs_per_s",
                    format!("Python no-op task over HTTP, 2 workers, {} jobs, jobs/s", s.w8_jobs),
                    Target::None,
                ),
            ],
            Workload::W8C => vec![num(
                "jobs_per_s",
                format!("Python client `Pool.map` of a no-op module, {} items, jobs/s", s.w8c_jobs),
                Target::None,
            )],
            Workload::W9 => vec![
                num(
                    "jobs_per_s",
                    format!("plain Python function, `Pool.map` of a no-op ×{}, jobs/s", s.w9_jobs),
                    Target::None,
                ),
                num(
                    "fib_jobs_per_s",
                    format!(
                        "plain Python function, `Pool.map` of fib(25) ×{}, jobs/s",
                        s.w9_fib_jobs
                    ),
                    Target::RatioAtLeast(0.5),
                ),
            ],
            Workload::W1Pg | Workload::W1Pg2 => {
                let what = if self == Workload::W1Pg {
                    format!("PostgreSQL, 1 host × 2 workers, {} no-op jobs", s.w1_jobs)
                } else {
                    format!("PostgreSQL, 2 hosts × 1 worker, {} no-op jobs", s.w1_jobs)
                };
                let mut rows = vec![
                    num("jobs_per_s", format!("throughput, {what}, jobs/s"), Target::None),
                    num("pg_cpu_us", format!("{what}: PostgreSQL CPU per job, µs"), Target::None),
                    num(
                        "pg_core_jobs_per_s",
                        format!("{what}: jobs/s per PostgreSQL core (10⁶ / CPU µs)"),
                        Target::None,
                    ),
                ];
                if self == Workload::W1Pg2 {
                    rows.push(num(
                        "host_a_percent",
                        format!("{what}: share of the jobs host `a` ran, %"),
                        Target::None,
                    ));
                }
                rows.push(check(
                    "each_once",
                    format!("{what}: every job succeeded at its first attempt"),
                ));
                rows
            }
            Workload::W2 => {
                let what = format!("latency, one job at a time ×{}", s.w2_rounds);
                vec![
                    num(
                        "p50_us",
                        format!("{what}, p50 µs"),
                        Target::AtMostRowPlus("fdatasync_p50_us", 250.0),
                    ),
                    num("p99_us", format!("{what}, p99 µs"), us(2000.0)),
                    num(
                        "fdatasync_p50_us",
                        "the data directory's `fdatasync` (4 KiB written), p50 µs".into(),
                        Target::None,
                    ),
                    num(
                        "p50_target_us",
                        "p50 target: `fdatasync` p50 + 250 µs".into(),
                        Target::None,
                    ),
                ]
            }
            Workload::W2Off => {
                let what = format!("latency, `--sync off`, one job at a time ×{}", s.w2_rounds);
                vec![
                    num("p50_us", format!("{what}, p50 µs"), us(300.0)),
                    num("p99_us", format!("{what}, p99 µs"), us(1000.0)),
                ]
            }
            Workload::W10 => vec![
                num(
                    "link_ms",
                    format!("chain of {} no-op jobs, ms per link", s.w10_links),
                    Target::None,
                ),
                num(
                    "link_overhead_ms",
                    "a link beyond its job's run, ms".into(),
                    Target::AtMost(1.0, "ms"),
                ),
            ],
            Workload::W11 => {
                let what = format!("fan-out of {} no-op jobs + 1 fan-in", s.w11_width);
                vec![
                    num("fan_s", format!("{what}, s"), Target::None),
                    num("alone_s", format!("the {} jobs alone, s", s.w11_width), Target::None),
                    num("fan_ratio", format!("{what} / alone"), Target::AtMost(1.3, "×")),
                    num(
                        "fan_in_delay_ms",
                        "last parent's end to the fan-in's start, ms".into(),
                        Target::None,
                    ),
                    num(
                        "fan_in_delay_p50_ms",
                        "200 fan-ins of 4, one at a time: that delay's p50, ms".into(),
                        Target::AtMost(2.0, "ms"),
                    ),
                    num("fan_in_delay_p99_ms", "that delay's p99, ms".into(), Target::None),
                ]
            }
            Workload::W12 | Workload::W13 => flow::rows(self, s),
            Workload::W3 => vec![num(
                "jobs_per_s",
                format!("compute, {} × fib 25, 2 workers, jobs/s", s.w3_jobs),
                Target::RatioAtLeast(25.0),
            )],
            Workload::W4 => {
                let what = "seed demo, 5 long-time-task on 4 workers";
                vec![
                    num("wall_s", format!("{what}, wall s"), Target::None),
                    check("fifth_waited", format!("{what}: the fifth waited for a free worker")),
                ]
            }
            Workload::W5 | Workload::W5M => {
                let jobs = if self == Workload::W5 { s.w5_jobs } else { s.w5m_jobs };
                let what = format!("{jobs} queued jobs");
                let fast = Target::Below(50_000.0, "µs");
                vec![
                    num(
                        "submit_per_s",
                        format!("{what}, paused: submitted jobs/s"),
                        Target::AtLeast(50_000.0, "jobs/s"),
                    ),
                    num("rss_mb", format!("{what}: server RSS, MB"), Target::Below(300.0, "MB")),
                    num(
                        "list_p99_us",
                        format!("{what}, draining: `GET /v1/jobs?limit=50` p99 µs"),
                        fast,
                    ),
                    num("pool_p99_us", format!("{what}, draining: `GET /v1/pool` p99 µs"), fast),
                    check(
                        "still_draining",
                        format!("{what}: the calls ran while the queue drained"),
                    ),
                ]
            }
            Workload::W6 => {
                let what = |guest| format!("sandbox cost, no-op {guest} (hello), µs per job");
                vec![
                    num("module_median_us", format!("{}, median", what("module")), us(20.0)),
                    num("module_mean_us", format!("{}, mean", what("module")), Target::None),
                    num("component_median_us", format!("{}, median", what("component")), us(20.0)),
                    num("component_mean_us", format!("{}, mean", what("component")), Target::None),
                    num(
                        "confined_module_median_us",
                        format!("{}, median, in a confined process (A/B)", what("module")),
                        us(20.0),
                    ),
                    num(
                        "confined_component_median_us",
                        format!("{}, median, in a confined process (A/B)", what("component")),
                        us(20.0),
                    ),
                ]
            }
        }
    }
}

/// Runs one side of one workload once and returns its numbers by row key. `binary` is the
/// release `wasmpool`; `postgres` the server for the workloads that need one.
pub async fn run(
    workload: Workload,
    side: Side,
    s: &Sizes,
    binary: &Path,
    postgres: Option<&Postgres>,
    celery: Option<&Celery>,
) -> Result<Vec<(&'static str, f64)>> {
    match side {
        Side::Wasmpool => run_wasmpool(workload, s, binary, postgres).await,
        Side::Python => python::measure(workload, s).await,
        Side::Celery => celery.context("no Celery for this run")?.measure(workload, s).await,
    }
}

async fn run_wasmpool(
    workload: Workload,
    s: &Sizes,
    binary: &Path,
    postgres: Option<&Postgres>,
) -> Result<Vec<(&'static str, f64)>> {
    let flag = |yes: bool| if yes { 1.0 } else { 0.0 };
    // W1's shape on every store: 2 workers in all, batches of 500.
    let w1 = |store, workers| Throughput {
        module: artifacts::HELLO,
        args: &[],
        total: s.w1_jobs,
        batch: 500,
        workers,
        store,
    };
    Ok(match workload {
        Workload::W1 => {
            vec![("jobs_per_s", w1(Store::Sqlite, 2).jobs_per_second(binary).await?)]
        }
        Workload::W1Pg | Workload::W1Pg2 => {
            let server = postgres.context("no PostgreSQL for this workload")?;
            let (hosts, workers) = if workload == Workload::W1Pg { (1, 2) } else { (2, 1) };
            let m = w1(Store::Postgres { server, hosts }, workers).measure(binary).await?;
            let mut metrics = vec![("jobs_per_s", m.jobs_per_s)];
            // An external server's processes are not sampled: those rows stay empty.
            if let Some(us) = m.pg_cpu_us_per_job {
                metrics.push(("pg_cpu_us", us));
                metrics.push(("pg_core_jobs_per_s", 1e6 / us));
            }
            let ran = |node: &str| m.per_host.iter().find(|(n, _)| n == node).map_or(0, |h| h.1);
            let all: u64 = m.per_host.iter().map(|h| h.1).sum();
            if hosts > 1 && all > 0 {
                metrics.push(("host_a_percent", 100.0 * ran("a") as f64 / all as f64));
            }
            metrics.push(("each_once", flag(m.each_once == Some(true))));
            metrics
        }
        Workload::W2 => {
            let w2 = latency::round_trip(binary, s.w2_rounds, s.w2_warmup, &[]).await?;
            let fdatasync = w2.fdatasync_p50_us.context("no fdatasync figure")?;
            vec![
                ("p50_us", w2.p50_us),
                ("p99_us", w2.p99_us),
                ("fdatasync_p50_us", fdatasync),
                ("p50_target_us", fdatasync + 250.0),
            ]
        }
        Workload::W2Off => {
            let off = ["--sync", "off"];
            let w2 = latency::round_trip(binary, s.w2_rounds, s.w2_warmup, &off).await?;
            vec![("p50_us", w2.p50_us), ("p99_us", w2.p99_us)]
        }
        Workload::W7 => {
            vec![("jobs_per_s", map::jobs_per_second(binary, artifacts::HELLO, s.w7_jobs).await?)]
        }
        Workload::W8 => python_tasks::w8(binary, s.w8_jobs).await?,
        Workload::W8C => python_tasks::w8c(binary, s.w8c_jobs).await?,
        Workload::W9 => python_tasks::w9(binary, s.w9_jobs, s.w9_fib_jobs).await?,
        Workload::W10 => workflows::chain(binary, s.w10_links).await?,
        Workload::W11 => workflows::fan_in(binary, s.w11_width).await?,
        Workload::W12 => flow::fair_share(binary, s.w12_backlog).await?,
        Workload::W13 => {
            let server = postgres.context("no PostgreSQL for this workload")?;
            flow::rate_limit(binary, server, s.w13_jobs).await?
        }
        Workload::W3 => {
            let w3 = Throughput {
                module: artifacts::FIB,
                args: &["25"],
                total: s.w3_jobs,
                batch: s.w3_jobs,
                workers: 2,
                store: Store::Sqlite,
            };
            vec![("jobs_per_s", w3.jobs_per_second(binary).await?)]
        }
        Workload::W4 => {
            let demo = demo::run(binary).await?;
            vec![("wall_s", demo.wall_s), ("fifth_waited", flag(demo.fifth_waited))]
        }
        Workload::W5 | Workload::W5M => {
            let jobs = if workload == Workload::W5 { s.w5_jobs } else { s.w5m_jobs };
            let w5 = scale::run(binary, jobs, 1000, s.w5_calls).await?;
            vec![
                ("submit_per_s", w5.submit_per_s),
                ("rss_mb", w5.rss_mb),
                ("list_p99_us", w5.list_p99_us),
                ("pool_p99_us", w5.pool_p99_us),
                ("still_draining", flag(w5.still_draining)),
            ]
        }
        Workload::W6 => {
            let (module, component) = sandbox_cost::measure(s.w6_jobs, s.w6_warmup).await?;
            let (confined, confined_component) =
                sandbox_cost::measure_confined(s.w6_jobs, s.w6_warmup).await?;
            vec![
                ("module_median_us", module.median_us),
                ("module_mean_us", module.mean_us),
                ("component_median_us", component.median_us),
                ("component_mean_us", component.mean_us),
                ("confined_module_median_us", confined.median_us),
                ("confined_component_median_us", confined_component.median_us),
            ]
        }
    })
}

//! Prometheus metrics: counters kept as jobs end, gauges read from the store and the pool at
//! scrape time, rendered in the OpenMetrics text format for `GET /metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::job::Completed;
use crate::job::JobState;
use crate::pool::{Snapshot, WorkerState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

/// The service's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    finished: Family<OutcomeLabel, Counter>,
    duration: Histogram,
    jobs: Family<StateLabel, Gauge>,
    queue_depth: Gauge,
    workers: Gauge,
    busy: Gauge,
    restarts: Counter<u64, AtomicU64>,
    ticks_skipped: Counter<u64, AtomicU64>,
    finished_total: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let buckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0];
        let metrics = Metrics {
            registry: Mutex::new(Registry::with_prefix("wasmpool")),
            finished: Family::default(),
            duration: Histogram::new(buckets),
            jobs: Family::default(),
            queue_depth: Gauge::default(),
            workers: Gauge::default(),
            busy: Gauge::default(),
            restarts: Counter::default(),
            ticks_skipped: Counter::default(),
            finished_total: AtomicU64::new(0),
        };
        {
            let mut registry = metrics.registry.lock().expect("metrics lock");
            registry.register(
                "jobs_finished",
                "Job attempts ended, by outcome",
                metrics.finished.clone(),
            );
            registry.register(
                "job_duration_seconds",
                "Run time of job attempts",
                metrics.duration.clone(),
            );
            registry.register("jobs", "Jobs in the store, by state", metrics.jobs.clone());
            registry.register("queue_depth", "Jobs waiting to run", metrics.queue_depth.clone());
            registry.register("workers", "Worker processes in the pool", metrics.workers.clone());
            registry.register(
                "workers_busy",
                "Worker processes running a job",
                metrics.busy.clone(),
            );
            registry.register(
                "worker_restarts",
                "Worker processes replaced",
                metrics.restarts.clone(),
            );
            registry.register(
                "schedule_ticks_skipped",
                "Schedule ticks this host skipped because it could not keep up",
                metrics.ticks_skipped.clone(),
            );
        }
        metrics
    }

    /// Counts an attempt that ended.
    pub fn job_finished(&self, completed: &Completed) {
        let outcome = completed.result.outcome.state().to_string();
        self.finished.get_or_create(&OutcomeLabel { outcome }).inc();
        self.finished_total.fetch_add(1, Ordering::Relaxed);
        let run =
            completed.finished_at.duration_since(completed.started_at).unwrap_or(Duration::ZERO);
        self.duration.observe(run.as_secs_f64());
    }

    /// Counts schedule ticks skipped.
    pub fn ticks_skipped(&self, skipped: u64) {
        self.ticks_skipped.inc_by(skipped);
    }

    /// Job attempts ended since the service started.
    pub fn finished_total(&self) -> u64 {
        self.finished_total.load(Ordering::Relaxed)
    }

    /// Renders every metric, with the gauges set from the current counts and pool.
    pub fn render(&self, counts: &BTreeMap<JobState, u64>, pool: &Snapshot) -> String {
        for (state, count) in counts {
            self.jobs.get_or_create(&StateLabel { state: state.to_string() }).set(*count as i64);
        }
        self.queue_depth.set(counts.get(&JobState::Queued).copied().unwrap_or(0) as i64);
        self.workers.set(pool.workers.len() as i64);
        let busy =
            pool.workers.iter().filter(|w| matches!(w.state, WorkerState::Busy { .. })).count();
        self.busy.set(busy as i64);
        self.restarts.inc_by(pool.restarts.saturating_sub(self.restarts.get()));
        let mut text = String::new();
        let registry = self.registry.lock().expect("metrics lock");
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .expect("writing to a String");
        text
    }
}

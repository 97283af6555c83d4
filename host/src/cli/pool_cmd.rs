//! `wasmpool pool`: a running service's worker pool at a glance, and pausing or resuming it.
//! (Named apart from `crate::pool`, the pool itself.)

use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Args, Subcommand};

use super::remote::{RemoteOptions, ago, or_dash, table};
use crate::job::JobState;
use crate::wire::PoolView;

/// Show the worker pool: capacity, whether it is paused or draining, jobs per state and
/// every worker; or pause or resume handing out queued jobs.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool pool
  wasmpool pool pause        (running jobs carry on; queued ones wait)
  wasmpool pool resume")]
pub struct PoolCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    #[command(subcommand)]
    action: Option<PoolAction>,
}

/// What to do with the pool (default: show it).
#[derive(Debug, Clone, Copy, Subcommand)]
enum PoolAction {
    /// Stop handing out queued jobs; running jobs carry on.
    Pause,
    /// Hand out queued jobs again.
    Resume,
}

impl PoolCommand {
    /// Shows, pauses or resumes the pool.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            let pool = match self.action {
                None => client.pool().await?,
                Some(PoolAction::Pause) => client.pause().await?,
                Some(PoolAction::Resume) => client.resume().await?,
            };
            if self.remote.print_json(&pool)? {
                return Ok(ExitCode::SUCCESS);
            }
            match self.action {
                None => print!("{}", render(&pool, SystemTime::now())),
                Some(PoolAction::Pause) => println!("pool paused"),
                Some(PoolAction::Resume) => println!("pool resumed"),
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

fn render(pool: &PoolView, now: SystemTime) -> String {
    let state = match (pool.draining, pool.paused) {
        (true, _) => "draining",
        (false, true) => "paused",
        (false, false) => "running",
    };
    let summary = [
        ("capacity", format!("{} workers", pool.capacity)),
        ("state", state.to_string()),
        ("restarts", pool.restarts.to_string()),
        ("jobs", counts(pool)),
        ("lanes", lanes(pool)),
    ]
    .map(|(label, value)| vec![label.to_string(), value]);
    // Hosts are named once the service names them (a cluster's pool spans several).
    let nodes = pool.workers.iter().any(|worker| worker.node.is_some());
    let mut header = vec!["LANE", "SLOT", "PID", "STATE", "JOB", "SINCE"];
    if nodes {
        header.insert(0, "NODE");
    }
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    rows.extend(pool.workers.iter().map(|worker| {
        let node = nodes.then(|| worker.node.clone().unwrap_or_else(|| "-".into()));
        node.into_iter()
            .chain([
                worker.lane.clone(),
                worker.slot.to_string(),
                if worker.pid == 0 { "-".to_string() } else { worker.pid.to_string() },
                worker.state.clone(),
                or_dash(worker.job_id),
                worker.since.as_deref().map_or_else(|| "-".to_string(), |since| ago(since, now)),
            ])
            .collect()
    }));
    format!("{}\n{}", table(&summary), table(&rows))
}

/// `default 1/2 busy 0 queued; slow 1/1 busy 5 queued`: each lane's workers and its jobs.
fn lanes(pool: &PoolView) -> String {
    let parts: Vec<String> = pool
        .lanes
        .iter()
        .map(|lane| {
            format!("{} {}/{} busy {} queued", lane.name, lane.busy, lane.workers, lane.queued)
        })
        .collect();
    if parts.is_empty() { "none".to_string() } else { parts.join("; ") }
}

/// `queued 3, running 2, ...` in lifecycle order, then any state this client does not know.
fn counts(pool: &PoolView) -> String {
    let known = JobState::ALL.map(JobState::as_str);
    let ordered = known.iter().filter_map(|state| pool.counts.get_key_value(*state));
    let others = pool.counts.iter().filter(|(state, _)| !known.contains(&state.as_str()));
    let parts: Vec<String> =
        ordered.chain(others).map(|(state, count)| format!("{state} {count}")).collect();
    if parts.is_empty() { "none".to_string() } else { parts.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WorkerView;

    #[test]
    fn pool_summary_and_workers() {
        let worker = |slot, pid, state: &str, job_id, since: Option<&str>| WorkerView {
            slot,
            pid,
            state: state.into(),
            job_id,
            since: since.map(str::to_string),
            job_name: None,
            module: None,
            module_name: None,
            timeout_ms: None,
            progress: None,
            node: None,
            lane: "default".into(),
        };
        let pool = PoolView {
            capacity: 2,
            paused: true,
            draining: false,
            workers: vec![
                worker(0, 4321, "busy", Some(12), Some("2025-01-02T03:04:00Z")),
                worker(1, 0, "starting", None, None),
            ],
            counts: [("succeeded", 5), ("queued", 3), ("lost", 1)]
                .map(|(state, count)| (state.to_string(), count))
                .into(),
            restarts: 1,
            throughput: Vec::new(),
            lanes: vec![crate::wire::LaneView {
                name: "default".into(),
                workers: 2,
                busy: 1,
                queued: 3,
                running: 1,
            }],
        };
        let now = super::super::remote::parse_time("2025-01-02T03:04:05Z").expect("valid");
        assert_eq!(
            render(&pool, now),
            "capacity  2 workers
state     paused
restarts  1
jobs      queued 3, succeeded 5, lost 1
lanes     default 1/2 busy 3 queued

LANE     SLOT  PID   STATE     JOB  SINCE
default  0     4321  busy      12   5s ago
default  1     -     starting  -    -
"
        );
    }
}

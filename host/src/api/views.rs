//! From the store's and the pool's records to the API's JSON shapes.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use std::collections::{BTreeMap, HashMap};

use crate::job::JobState;
use crate::pool::{Snapshot, WorkerInfo, WorkerState};
use crate::schedule::Timetable;
use crate::store::{
    AttemptRecord, JobBrief, JobId, JobRecord, JobSummaryRecord, LaneCount, ModuleRecord,
    NodeRecord, ScheduleRecord,
};
use crate::wire::{
    AttemptView, JobEnd, JobRequest, JobSummary, JobView, LaneView, ModuleView, NodeView, PoolView,
    ProgressView, SUMMARY_ARGS_CHARS, SUMMARY_ERROR_CHARS, ScheduleView, WorkerView,
};

/// RFC 3339 with microseconds, UTC.
pub fn timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_micros(time).to_string()
}

/// Text when the bytes are UTF-8, base64 otherwise.
fn text_or_base64(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_string()), None),
        Err(_) => (None, Some(STANDARD.encode(bytes))),
    }
}

/// A module as the API shows it; `name` is the name given with this request, if any.
pub fn module(record: ModuleRecord, name: Option<String>) -> ModuleView {
    ModuleView {
        hash: record.hash,
        name,
        names: record.names,
        size: record.size,
        kind: record.kind.as_str().to_string(),
        created_at: timestamp(record.created_at),
        max_running: record.max_running,
    }
}

/// A schedule as the API shows it, with its next tick after `now` (none while paused). Its
/// job request was checked when stored, so one that no longer parses is the store's fault.
pub fn schedule(record: ScheduleRecord, now: SystemTime) -> Result<ScheduleView, String> {
    let job: JobRequest = serde_json::from_str(&record.job)
        .map_err(|e| format!("schedule {}: stored job request: {e}", record.name))?;
    let next_run_at = if record.enabled {
        Timetable::parse(&record.cron, &record.timezone)
            .ok()
            .and_then(|timetable| timetable.next_after(now))
            .map(timestamp)
    } else {
        None
    };
    Ok(ScheduleView {
        name: record.name,
        cron: record.cron,
        timezone: record.timezone,
        job,
        enabled: record.enabled,
        catch_up: record.catch_up,
        created_at: timestamp(record.created_at),
        last_run_at: record.last_run_at.map(timestamp),
        last_job_id: record.last_job_id,
        last_error: record.last_error,
        ticks_skipped: record.ticks_skipped,
        next_run_at,
    })
}

fn progress((percent, message): (u8, String)) -> ProgressView {
    ProgressView { percent, message }
}

/// A job as the API shows it, with the history of its ended attempts.
pub fn job(record: JobRecord, history: Vec<AttemptRecord>) -> JobView {
    let (stdout, stdout_base64) = text_or_base64(&record.stdout);
    let (stderr, stderr_base64) = text_or_base64(&record.stderr);
    JobView {
        id: record.id,
        name: record.name,
        module: record.module_hash,
        module_name: record.module_name,
        argv0: record.argv0,
        args: record.args,
        env: record.env,
        job_env: record.job_env,
        priority: record.priority,
        state: record.state,
        attempts: record.attempts,
        max_attempts: record.max_attempts,
        timeout_ms: record.timeout_ms,
        memory_mb: record.memory_mb,
        fuel: record.fuel,
        submitted_at: timestamp(record.submitted_at),
        started_at: record.started_at.map(timestamp),
        finished_at: record.finished_at.map(timestamp),
        worker_pid: record.worker_pid,
        exit_code: record.exit_code,
        stdout,
        stdout_base64,
        stderr,
        stderr_base64,
        stdout_truncated: record.stdout_truncated,
        stderr_truncated: record.stderr_truncated,
        error: record.error,
        fuel_used: record.fuel_used,
        peak_memory_bytes: record.peak_memory_bytes,
        progress: record.progress.map(progress),
        node: record.node,
        // A job is shown only to its tenant, under that tenant's name for its schedule.
        schedule: record.schedule.map(|name| crate::store::split_name(&name).1.to_string()),
        scheduled_for: record.schedule_tick.map(timestamp),
        run_at: run_at(record.state, record.not_before),
        lane: record.lane,
        attempts_history: history.into_iter().map(attempt).collect(),
        call: record.call,
        params: record.params.and_then(|json| serde_json::from_str(&json).ok()),
        result: record.result.and_then(|json| serde_json::from_str(&json).ok()),
        mounts: record.mounts,
        workflow: record.workflow,
        on_parent_failure: record.on_parent_failure,
        concurrency_limit: record.concurrency.as_ref().map(|(_, limit)| *limit),
        concurrency_key: record.concurrency.map(|(key, _)| key),
        rate_limits: record.rate_limits,
    }
}

/// An ended job as a wait on many jobs answers it.
pub fn end(record: JobRecord) -> JobEnd {
    let (stdout, stdout_base64) = text_or_base64(&record.stdout);
    let (stderr, stderr_base64) = text_or_base64(&record.stderr);
    JobEnd {
        id: record.id,
        state: record.state,
        attempts: record.attempts,
        exit_code: record.exit_code,
        stdout,
        stdout_base64,
        stderr,
        stderr_base64,
        stdout_truncated: record.stdout_truncated,
        stderr_truncated: record.stderr_truncated,
        error: record.error,
        call: record.call,
        result: record.result.and_then(|json| serde_json::from_str(&json).ok()),
        finished_at: record.finished_at.map(timestamp),
    }
}

/// A job as a listing shows it.
pub fn summary(record: JobSummaryRecord) -> JobSummary {
    let mut args = record.args.join(" ");
    if record.args_cut {
        args.push('…');
    }
    if let Some(function) = &record.call {
        // `square(7)`: the parameters' JSON without its brackets (cut when long).
        let params = record.params_head.as_deref().unwrap_or("[]");
        let inner = params.strip_prefix('[').unwrap_or(params);
        let inner = inner.strip_suffix(']').unwrap_or(inner);
        let cut = if params.ends_with(']') { "" } else { "…" };
        args = format!("{function}({inner}{cut})");
    }
    JobSummary {
        id: record.id,
        name: record.name,
        module: record.module_hash,
        module_name: record.module_name,
        args_preview: preview(&args, SUMMARY_ARGS_CHARS),
        priority: record.priority,
        state: record.state,
        attempts: record.attempts,
        max_attempts: record.max_attempts,
        timeout_ms: record.timeout_ms,
        submitted_at: timestamp(record.submitted_at),
        run_at: run_at(record.state, record.not_before),
        started_at: record.started_at.map(timestamp),
        finished_at: record.finished_at.map(timestamp),
        worker_pid: record.worker_pid,
        exit_code: record.exit_code,
        stdout_bytes: record.stdout_bytes,
        stderr_bytes: record.stderr_bytes,
        stdout_truncated: record.stdout_truncated,
        stderr_truncated: record.stderr_truncated,
        error: record.error.map(|error| preview(&error, SUMMARY_ERROR_CHARS)),
        progress: record.progress.map(progress),
        node: record.node,
        // A job is shown only to its tenant, under that tenant's name for its schedule.
        schedule: record.schedule.map(|name| crate::store::split_name(&name).1.to_string()),
        scheduled_for: record.schedule_tick.map(timestamp),
        lane: record.lane,
        call: record.call,
        workflow: record.workflow,
    }
}

/// `text` cut to at most `chars` characters, the last of them `…` when cut.
fn preview(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars.saturating_sub(1)) {
        Some((end, _)) if text[end..].chars().nth(1).is_some() => format!("{}…", &text[..end]),
        _ => text.to_string(),
    }
}

/// When a queued job falls due, while that is still to come (a delay, or a retry's backoff).
/// This host's clock, not the database's: the time is for people to read.
pub fn run_at(state: JobState, not_before: SystemTime) -> Option<String> {
    (state == JobState::Queued && not_before > SystemTime::now()).then(|| timestamp(not_before))
}

fn attempt(record: AttemptRecord) -> AttemptView {
    AttemptView {
        attempt: record.attempt,
        node: record.node,
        worker_pid: record.worker_pid,
        started_at: timestamp(record.started_at),
        finished_at: timestamp(record.finished_at),
        state: record.state,
        exit_code: record.exit_code,
        error: record.error,
    }
}

/// The pool as the API shows it; `lanes` as [`lanes`] makes them.
pub fn pool(
    workers: Vec<WorkerView>,
    restarts: u64,
    counts: BTreeMap<JobState, u64>,
    paused: bool,
    draining: bool,
    throughput: Vec<u64>,
    lanes: Vec<LaneView>,
) -> PoolView {
    PoolView {
        lanes,
        capacity: workers.len(),
        paused,
        draining,
        workers,
        counts: counts.into_iter().map(|(state, n)| (state.to_string(), n)).collect(),
        restarts,
        throughput,
    }
}

/// A host's workers, each in its lane (`slot_lanes[slot]`); busy ones carry what `briefs`
/// knows of their jobs.
pub fn workers(
    snapshot: Snapshot,
    briefs: &HashMap<JobId, JobBrief>,
    node: &str,
    slot_lanes: &[String],
) -> Vec<WorkerView> {
    let view = |worker: WorkerInfo| WorkerView {
        node: Some(node.to_string()),
        lane: slot_lanes.get(worker.slot).cloned().unwrap_or_default(),
        ..worker_view(worker, briefs)
    };
    snapshot.workers.into_iter().map(view).collect()
}

/// Each lane with its workers (of every host shown) and its jobs (of the whole store), by
/// name: the lanes the workers serve and any other lane that jobs wait or run in.
pub fn lanes(workers: &[WorkerView], counts: BTreeMap<String, LaneCount>) -> Vec<LaneView> {
    let mut lanes: BTreeMap<String, LaneView> = BTreeMap::new();
    let empty = |name: &str| LaneView {
        name: name.to_string(),
        workers: 0,
        busy: 0,
        queued: 0,
        running: 0,
    };
    for worker in workers {
        let lane = lanes.entry(worker.lane.clone()).or_insert_with(|| empty(&worker.lane));
        lane.workers += 1;
        lane.busy += u64::from(worker.state == "busy");
    }
    for (name, count) in counts {
        let lane = lanes.entry(name.clone()).or_insert_with(|| empty(&name));
        lane.queued = count.queued;
        lane.running = count.running;
    }
    lanes.into_values().collect()
}

fn worker_view(worker: WorkerInfo, briefs: &HashMap<JobId, JobBrief>) -> WorkerView {
    let mut view = WorkerView {
        slot: worker.slot,
        pid: worker.pid,
        state: String::new(),
        job_id: None,
        since: None,
        job_name: None,
        module: None,
        module_name: None,
        timeout_ms: None,
        progress: None,
        node: None,
        lane: String::new(),
    };
    view.state = match worker.state {
        WorkerState::Starting => "starting".into(),
        WorkerState::Idle => "idle".into(),
        WorkerState::Busy { job_id, since } => {
            view.job_id = job_id.parse().ok();
            view.since = Some(timestamp(since));
            if let Some(brief) = view.job_id.and_then(|id| briefs.get(&id)) {
                view.job_name = brief.name.clone();
                view.module = Some(brief.module_hash.clone());
                view.module_name = brief.module_name.clone();
                view.timeout_ms = Some(brief.timeout_ms);
                view.progress = brief.progress.clone().map(progress);
            }
            "busy".into()
        }
    };
    view
}

/// A host of the cluster as the API shows it.
pub fn node(record: NodeRecord) -> NodeView {
    NodeView {
        name: record.name,
        address: record.address,
        version: record.version,
        workers: record.workers,
        busy: record.busy,
        started_at: timestamp(record.started_at),
        heartbeat_at: timestamp(record.heartbeat_at),
        state: record.state,
    }
}

/// The ids of the jobs busy workers are running.
pub fn busy_jobs(snapshot: &Snapshot) -> Vec<JobId> {
    snapshot
        .workers
        .iter()
        .filter_map(|worker| match &worker.state {
            WorkerState::Busy { job_id, .. } => job_id.parse().ok(),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::preview;

    #[test]
    fn previews_cut_at_a_character_count_with_an_ellipsis() {
        assert_eq!(preview("abc", 3), "abc");
        assert_eq!(preview("abcd", 3), "ab…");
        assert_eq!(preview("", 3), "");
        // Characters, not bytes: a cut never splits one.
        assert_eq!(preview("ééééé", 4), "ééé…");
        assert_eq!(preview("éé", 2), "éé");
    }
}

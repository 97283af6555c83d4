//! Rows as the store hands them out, and the conversions between Rust and SQLite values
//! (times are integer microseconds since the Unix epoch; lists and maps are JSON text).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Row;
use sqlx::postgres::PgRow;

use super::JobState;
use super::schedules::ScheduleRecord;
use super::{AttemptRecord, JobId, LaneCount, Result, StoreError};
use crate::job::ModuleKind;

/// A stored module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleRecord {
    /// SHA-256 of its bytes, hex.
    pub hash: String,
    /// Module or component.
    pub kind: ModuleKind,
    /// Size in bytes.
    pub size: u64,
    /// Names pointing at it.
    pub names: Vec<String>,
    /// First upload.
    pub created_at: SystemTime,
    /// At most this many of its jobs run (are claimed) at once; `None`: no cap.
    pub max_running: Option<u32>,
    /// What it exports (`call::Exports` as JSON); `None` for a module uploaded before
    /// wasmpool kept that.
    pub exports: Option<String>,
}

/// A stored job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    /// Id.
    pub id: JobId,
    /// Label.
    pub name: Option<String>,
    /// Module hash.
    pub module_hash: String,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// Standard input.
    pub stdin: Vec<u8>,
    /// Priority.
    pub priority: i32,
    /// Wall-clock limit.
    pub timeout_ms: u64,
    /// Memory limit in MiB.
    pub memory_mb: u64,
    /// Fuel limit.
    pub fuel: Option<u64>,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// State.
    pub state: JobState,
    /// Attempts started.
    pub attempts: u32,
    /// Not claimed before this.
    pub not_before: SystemTime,
    /// Accepted at.
    pub submitted_at: SystemTime,
    /// Latest attempt started at.
    pub started_at: Option<SystemTime>,
    /// Ended at.
    pub finished_at: Option<SystemTime>,
    /// Worker of the latest attempt.
    pub worker_pid: Option<u32>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
    /// Stdout was cut.
    pub stdout_truncated: bool,
    /// Stderr was cut.
    pub stderr_truncated: bool,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// Fuel burnt.
    pub fuel_used: Option<u64>,
    /// Peak linear memory.
    pub peak_memory_bytes: Option<u64>,
    /// The latest progress the job reported: percent done and a message.
    pub progress: Option<(u8, String)>,
    /// The host of the current or last attempt.
    pub node: Option<String>,
    /// That host's incarnation (the attempt's fencing token; 0 on SQLite).
    pub node_id: Option<i64>,
    /// The guest's argv[0]; `None` for the default.
    pub argv0: Option<String>,
    /// Whether the guest's environment also holds `WASMPOOL_JOB_ID` and `WASMPOOL_WORKER_PID`.
    pub job_env: bool,
    /// The module name the job was submitted by; `None` when by hash.
    pub module_name: Option<String>,
    /// The schedule that made the job; `None` when it was submitted.
    pub schedule: Option<String>,
    /// The tick of that schedule the job was made for.
    pub schedule_tick: Option<SystemTime>,
    /// The lane whose workers run it.
    pub lane: String,
    /// The exported function a call runs (`None` for a command).
    pub call: Option<String>,
    /// The call's parameters (a JSON array).
    pub params: Option<String>,
    /// What the call returned (JSON).
    pub result: Option<String>,
    /// The service's directories it is granted.
    pub mounts: Vec<crate::wire::Mount>,
    /// The workflow it belongs to.
    pub workflow: Option<i64>,
    /// What it does when a parent fails (`None` outside a workflow).
    pub on_parent_failure: Option<wasmpool_protocol::workflow::ParentFailure>,
    /// The tenant that owns it.
    pub tenant: String,
    /// Its concurrency key, as its tenant named it, and the most jobs with it run at once.
    pub concurrency: Option<(String, u32)>,
    /// The rate limits it uses, as its tenant named them.
    pub rate_limits: Vec<String>,
}

/// A host of the cluster (its newest incarnation).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeRecord {
    /// The incarnation's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Where its API listens.
    pub address: String,
    /// Its version.
    pub version: String,
    /// Its worker processes.
    pub workers: u64,
    /// Those running a job at its last heartbeat.
    pub busy: u64,
    /// Its workers as the API shows them, at its last heartbeat.
    pub pool: serde_json::Value,
    /// When it joined.
    pub started_at: SystemTime,
    /// Its last heartbeat.
    pub heartbeat_at: SystemTime,
    /// `alive`, `lost` or `left`.
    pub state: String,
}

/// What the dashboard shows of a running job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobBrief {
    /// Id.
    pub id: JobId,
    /// Label.
    pub name: Option<String>,
    /// Module hash.
    pub module_hash: String,
    /// A name of the module, if it has one.
    pub module_name: Option<String>,
    /// Wall-clock limit.
    pub timeout_ms: u64,
    /// The latest progress the job reported.
    pub progress: Option<(u8, String)>,
    /// The tenant that owns it.
    pub tenant: String,
}

/// Microseconds since the epoch, as stored.
pub fn micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// The time a stored microsecond count stands for.
pub fn time(micros: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros.max(0) as u64)
}

pub(super) fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {error}"))
}

pub(super) fn state(text: &str) -> Result<JobState> {
    text.parse().map_err(|e| corrupt("state", e))
}

fn kind(text: &str) -> Result<ModuleKind> {
    match text {
        "module" => Ok(ModuleKind::Module),
        "component" => Ok(ModuleKind::Component),
        other => Err(corrupt("module kind", other)),
    }
}

/// A progress report from its two columns.
pub fn progress(percent: Option<i64>, message: Option<String>) -> Option<(u8, String)> {
    percent.map(|percent| (percent.clamp(0, 100) as u8, message.unwrap_or_default()))
}

/// A result row of either backend (SQLite's through rusqlite, PostgreSQL's through sqlx), read
/// by column name, so one decoder serves both.
pub trait Columns {
    /// An integer column, `None` for NULL.
    fn int(&self, column: &str) -> Result<Option<i64>>;
    /// A text column, `None` for NULL.
    fn text(&self, column: &str) -> Result<Option<String>>;
    /// A blob column, `None` for NULL.
    fn blob(&self, column: &str) -> Result<Option<Vec<u8>>>;
}

/// PostgreSQL's integers come in several widths (and flags as booleans); each decodes as `i64`.
impl Columns for PgRow {
    fn int(&self, column: &str) -> Result<Option<i64>> {
        if let Ok(value) = self.try_get::<Option<i64>, _>(column) {
            return Ok(value);
        }
        if let Ok(value) = self.try_get::<Option<i32>, _>(column) {
            return Ok(value.map(i64::from));
        }
        Ok(self.try_get::<Option<bool>, _>(column)?.map(i64::from))
    }

    fn text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }

    fn blob(&self, column: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(column)?)
    }
}

/// An SQLite row (the writer's or a reader's), with its statement's column positions looked up once
/// ([`positions`]): rusqlite finds a column by name with a linear, case-insensitive scan,
/// which for a claim's `RETURNING *` was a tenth of the writer's time.
pub struct Positioned<'a> {
    /// The row.
    pub row: &'a rusqlite::Row<'a>,
    /// Column name to position, for the row's statement.
    pub columns: &'a HashMap<String, usize>,
}

/// The positions of a statement's result columns by name.
pub fn positions(statement: &rusqlite::Statement<'_>) -> HashMap<String, usize> {
    statement
        .column_names()
        .into_iter()
        .enumerate()
        .map(|(i, name)| (name.to_string(), i))
        .collect()
}

impl Positioned<'_> {
    fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> Result<T> {
        let index = self.columns.get(column).ok_or_else(|| corrupt(column, "no such column"))?;
        Ok(self.row.get(*index)?)
    }
}

impl Columns for Positioned<'_> {
    fn int(&self, column: &str) -> Result<Option<i64>> {
        self.get(column)
    }

    fn text(&self, column: &str) -> Result<Option<String>> {
        self.get(column)
    }

    fn blob(&self, column: &str) -> Result<Option<Vec<u8>>> {
        self.get(column)
    }
}

/// A column that may not be NULL.
pub(super) fn required<T>(column: &str, value: Option<T>) -> Result<T> {
    value.ok_or_else(|| corrupt(column, "NULL"))
}

pub(super) fn required_int(row: &impl Columns, column: &str) -> Result<i64> {
    required(column, row.int(column)?)
}

pub(super) fn required_text(row: &impl Columns, column: &str) -> Result<String> {
    required(column, row.text(column)?)
}

/// A non-negative integer column (`None` for NULL).
pub(super) fn count(row: &impl Columns, column: &str) -> Result<Option<u64>> {
    Ok(row.int(column)?.map(|value| value.max(0) as u64))
}

/// An integer column that must fit `T`.
pub(super) fn narrow<T: TryFrom<i64>>(row: &impl Columns, column: &str) -> Result<Option<T>> {
    row.int(column)?.map(|value| T::try_from(value).map_err(|_| corrupt(column, value))).transpose()
}

/// Decodes a `jobs` row (every column, `SELECT *`).
pub fn job(row: &impl Columns) -> Result<JobRecord> {
    Ok(JobRecord {
        id: required_int(row, "id")?,
        tenant: required_text(row, "tenant")?,
        name: row.text("name")?,
        module_hash: required_text(row, "module_hash")?,
        args: serde_json::from_str(&required_text(row, "args")?).map_err(|e| corrupt("args", e))?,
        env: serde_json::from_str(&required_text(row, "env")?).map_err(|e| corrupt("env", e))?,
        stdin: row.blob("stdin")?.unwrap_or_default(),
        priority: required("priority", narrow(row, "priority")?)?,
        timeout_ms: count(row, "timeout_ms")?.unwrap_or(0),
        memory_mb: count(row, "memory_mb")?.unwrap_or(0),
        fuel: count(row, "fuel")?,
        max_attempts: required("max_attempts", narrow(row, "max_attempts")?)?,
        state: state(&required_text(row, "state")?)?,
        attempts: required("attempts", narrow(row, "attempts")?)?,
        not_before: time(required_int(row, "not_before")?),
        submitted_at: time(required_int(row, "submitted_at")?),
        started_at: row.int("started_at")?.map(time),
        finished_at: row.int("finished_at")?.map(time),
        worker_pid: narrow(row, "worker_pid")?,
        exit_code: narrow(row, "exit_code")?,
        stdout: row.blob("stdout")?.unwrap_or_default(),
        stderr: row.blob("stderr")?.unwrap_or_default(),
        stdout_truncated: row.int("stdout_truncated")?.is_some_and(|flag| flag != 0),
        stderr_truncated: row.int("stderr_truncated")?.is_some_and(|flag| flag != 0),
        error: row.text("error")?,
        fuel_used: count(row, "fuel_used")?,
        peak_memory_bytes: count(row, "peak_memory_bytes")?,
        progress: progress(row.int("progress_percent")?, row.text("progress_message")?),
        node: row.text("node")?,
        node_id: row.int("node_id")?,
        argv0: row.text("argv0")?,
        job_env: row.int("job_env")?.is_some_and(|flag| flag != 0),
        module_name: row.text("module_name")?,
        schedule: row.text("schedule")?,
        schedule_tick: row.int("schedule_tick")?.map(time),
        lane: required_text(row, "lane")?,
        call: row.text("call_function")?,
        params: row.text("call_params")?,
        result: row.text("call_result")?,
        mounts: match row.text("mounts")? {
            Some(text) => serde_json::from_str(&text).map_err(|e| corrupt("mounts", e))?,
            None => Vec::new(),
        },
        workflow: row.int("workflow_id")?,
        on_parent_failure: row
            .text("on_parent_failure")?
            .map(|mode| mode.parse().map_err(|e| corrupt("on_parent_failure", e)))
            .transpose()?,
        concurrency: match row.text("concurrency_key")? {
            Some(key) => Some((
                super::tenants::split_name(&key).1.to_string(),
                narrow(row, "concurrency_limit")?.unwrap_or(1),
            )),
            None => None,
        },
        rate_limits: match row.text("rate_limits")? {
            Some(text) => serde_json::from_str::<Vec<String>>(&text)
                .map_err(|e| corrupt("rate_limits", e))?
                .iter()
                .map(|name| super::tenants::split_name(name).1.to_string())
                .collect(),
            None => Vec::new(),
        },
    })
}

/// Job counts by state from `(state, count)` rows; an unknown state is corrupt.
pub fn state_counts(found: Vec<(String, i64)>) -> Result<BTreeMap<JobState, u64>> {
    let mut counts = BTreeMap::new();
    for (name, n) in found {
        counts.insert(state(&name)?, n.max(0) as u64);
    }
    Ok(counts)
}

/// Decodes a module row joined with its names (`names` is a comma-free JSON array).
pub fn module(row: &impl Columns) -> Result<ModuleRecord> {
    let mut names: Vec<String> = match row.text("names")? {
        Some(json) => serde_json::from_str(&json).map_err(|e| corrupt("names", e))?,
        None => Vec::new(),
    };
    names.retain(|name| !name.is_empty());
    names.sort();
    Ok(ModuleRecord {
        hash: required_text(row, "hash")?,
        kind: kind(&required_text(row, "kind")?)?,
        size: count(row, "size")?.unwrap_or(0),
        names,
        created_at: time(required_int(row, "created_at")?),
        max_running: narrow(row, "max_running")?,
        exports: row.text("exports")?,
    })
}

/// Decodes a `schedules` row (every column).
pub fn schedule(row: &impl Columns) -> Result<ScheduleRecord> {
    Ok(ScheduleRecord {
        name: required_text(row, "name")?,
        cron: required_text(row, "cron")?,
        timezone: required_text(row, "timezone")?,
        job: required_text(row, "job")?,
        enabled: required_int(row, "enabled")? != 0,
        catch_up: required_int(row, "catch_up")? != 0,
        created_at: time(required_int(row, "created_at")?),
        active_since: time(required_int(row, "active_since")?),
        last_tick: row.int("last_tick")?.map(time),
        last_run_at: row.int("last_run_at")?.map(time),
        last_job_id: row.int("last_job_id")?,
        last_error: row.text("last_error")?,
        ticks_skipped: required_int(row, "ticks_skipped")?.max(0) as u64,
    })
}

/// Counts per lane from `(lane, state, count)` rows of queued and running jobs.
pub fn lane_counts(found: Vec<(String, String, i64)>) -> BTreeMap<String, LaneCount> {
    let mut counts: BTreeMap<String, LaneCount> = BTreeMap::new();
    for (lane, state, n) in found {
        let count = counts.entry(lane).or_default();
        match state.as_str() {
            "queued" => count.queued = n.max(0) as u64,
            "running" => count.running = n.max(0) as u64,
            _ => {}
        }
    }
    counts
}

/// The ids a multi-row insert returned, in the order its rows were given: both backends
/// hand out rising ids in insertion order, but neither promises `RETURNING`'s order. An
/// answer of the wrong length means the database did something unexpected.
pub fn in_insert_order(mut ids: Vec<JobId>, inserted: usize) -> Result<Vec<JobId>> {
    if ids.len() != inserted {
        let counts = format!("{inserted} rows inserted, {} returned", ids.len());
        return Err(StoreError::Corrupt(counts));
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Decodes an `attempts` row (every column): the job it belongs to, and the attempt.
pub fn attempt(row: &impl Columns) -> Result<(JobId, AttemptRecord)> {
    let record = AttemptRecord {
        attempt: required("attempt", narrow(row, "attempt")?)?,
        node: row.text("node")?,
        worker_pid: narrow(row, "worker_pid")?,
        started_at: time(required_int(row, "started_at")?),
        finished_at: time(required_int(row, "finished_at")?),
        state: state(&required_text(row, "state")?)?,
        exit_code: narrow(row, "exit_code")?,
        error: row.text("error")?,
    };
    Ok((required_int(row, "job_id")?, record))
}

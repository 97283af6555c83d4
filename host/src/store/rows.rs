//! Rows as the store hands them out, and the conversions between Rust and SQLite values
//! (times are integer microseconds since the Unix epoch; lists and maps are JSON text).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{JobId, Result, StoreError};
use crate::job::ModuleKind;
use crate::wire::JobState;

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
}

/// Microseconds since the epoch, as stored.
pub fn micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// The time a stored microsecond count stands for.
pub fn time(micros: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros.max(0) as u64)
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {error}"))
}

fn state(text: &str) -> Result<JobState> {
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

/// Decodes a `jobs` row (every column, `SELECT *`).
pub fn job(row: &SqliteRow) -> Result<JobRecord> {
    let u64_of = |column: &str| -> Result<Option<u64>> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(|value| value.max(0) as u64))
    };
    Ok(JobRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        module_hash: row.try_get("module_hash")?,
        args: serde_json::from_str(row.try_get("args")?).map_err(|e| corrupt("args", e))?,
        env: serde_json::from_str(row.try_get("env")?).map_err(|e| corrupt("env", e))?,
        stdin: row.try_get("stdin")?,
        priority: row.try_get("priority")?,
        timeout_ms: u64_of("timeout_ms")?.unwrap_or(0),
        memory_mb: u64_of("memory_mb")?.unwrap_or(0),
        fuel: u64_of("fuel")?,
        max_attempts: row.try_get("max_attempts")?,
        state: state(row.try_get("state")?)?,
        attempts: row.try_get("attempts")?,
        not_before: time(row.try_get("not_before")?),
        submitted_at: time(row.try_get("submitted_at")?),
        started_at: row.try_get::<Option<i64>, _>("started_at")?.map(time),
        finished_at: row.try_get::<Option<i64>, _>("finished_at")?.map(time),
        worker_pid: row.try_get("worker_pid")?,
        exit_code: row.try_get("exit_code")?,
        stdout: row.try_get::<Option<Vec<u8>>, _>("stdout")?.unwrap_or_default(),
        stderr: row.try_get::<Option<Vec<u8>>, _>("stderr")?.unwrap_or_default(),
        stdout_truncated: row.try_get("stdout_truncated")?,
        stderr_truncated: row.try_get("stderr_truncated")?,
        error: row.try_get("error")?,
        fuel_used: u64_of("fuel_used")?,
        peak_memory_bytes: u64_of("peak_memory_bytes")?,
        progress: progress(row.try_get("progress_percent")?, row.try_get("progress_message")?),
    })
}

/// Decodes a module row joined with its names (`names` is a comma-free JSON array).
pub fn module(row: &SqliteRow) -> Result<ModuleRecord> {
    let names: Option<String> = row.try_get("names")?;
    let mut names: Vec<String> = match names {
        Some(json) => serde_json::from_str(&json).map_err(|e| corrupt("names", e))?,
        None => Vec::new(),
    };
    names.retain(|name| !name.is_empty());
    names.sort();
    Ok(ModuleRecord {
        hash: row.try_get("hash")?,
        kind: kind(row.try_get("kind")?)?,
        size: row.try_get::<i64, _>("size")?.max(0) as u64,
        names,
        created_at: time(row.try_get("created_at")?),
    })
}

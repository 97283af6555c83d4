//! A job as a listing reads it (`Store::jobs`): the record, its decoder and the recovery of
//! the arguments from the cut JSON that `sql/jobs.sql` reads on either backend.

use std::time::SystemTime;

use super::JobId;
use super::JobState;
use super::Result;
use super::rows::{
    Columns, count, narrow, progress, required, required_int, required_text, state, time,
};

/// A job as a listing reads it: no input, no output (only their sizes), the arguments and
/// the error cut short, so that a page costs little whatever its jobs wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSummaryRecord {
    /// Id.
    pub id: JobId,
    /// Label.
    pub name: Option<String>,
    /// Module hash.
    pub module_hash: String,
    /// The module name the job was submitted by.
    pub module_name: Option<String>,
    /// The first of its arguments (those whose JSON fits the listing's bound).
    pub args: Vec<String>,
    /// Whether arguments were left out of `args` or the last one was cut.
    pub args_cut: bool,
    /// Priority.
    pub priority: i32,
    /// State.
    pub state: JobState,
    /// Attempts started.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Wall-clock limit.
    pub timeout_ms: u64,
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
    /// Bytes of stdout kept.
    pub stdout_bytes: u64,
    /// Bytes of stderr kept.
    pub stderr_bytes: u64,
    /// Stdout was cut at the cap.
    pub stdout_truncated: bool,
    /// Stderr was cut at the cap.
    pub stderr_truncated: bool,
    /// The start of the error (its first 1,024 characters: enough for any preview the API gives).
    pub error: Option<String>,
    /// The latest progress.
    pub progress: Option<(u8, String)>,
    /// The host of the current or last attempt.
    pub node: Option<String>,
    /// The schedule that made the job.
    pub schedule: Option<String>,
    /// The tick of that schedule.
    pub schedule_tick: Option<SystemTime>,
    /// The lane.
    pub lane: String,
    /// The workflow it belongs to.
    pub workflow: Option<i64>,
    /// The function a call runs (`None` for a command).
    pub call: Option<String>,
    /// The start of the call's parameters (JSON, its first 256 characters).
    pub params_head: Option<String>,
}

/// Decodes a listing's row: the `jobs` columns but `args`, `stdin`, `stdout`, `stderr` and
/// `error`, plus `args_head` and `error_head` (their first 1,024 characters, as
/// `sql/jobs.sql` reads them), `args_length` (the arguments' JSON length in characters) and `stdout_bytes`,
/// `stderr_bytes`.
pub fn summary(row: &impl Columns) -> Result<JobSummaryRecord> {
    let head = required_text(row, "args_head")?;
    let whole = count(row, "args_length")?.unwrap_or(0) as usize == head.chars().count();
    let (args, complete) = leading_strings(&head);
    Ok(JobSummaryRecord {
        id: required_int(row, "id")?,
        name: row.text("name")?,
        module_hash: required_text(row, "module_hash")?,
        module_name: row.text("module_name")?,
        args,
        args_cut: !(whole && complete),
        priority: required("priority", narrow(row, "priority")?)?,
        state: state(&required_text(row, "state")?)?,
        attempts: required("attempts", narrow(row, "attempts")?)?,
        max_attempts: required("max_attempts", narrow(row, "max_attempts")?)?,
        timeout_ms: count(row, "timeout_ms")?.unwrap_or(0),
        not_before: time(required_int(row, "not_before")?),
        submitted_at: time(required_int(row, "submitted_at")?),
        started_at: row.int("started_at")?.map(time),
        finished_at: row.int("finished_at")?.map(time),
        worker_pid: narrow(row, "worker_pid")?,
        exit_code: narrow(row, "exit_code")?,
        stdout_bytes: count(row, "stdout_bytes")?.unwrap_or(0),
        stderr_bytes: count(row, "stderr_bytes")?.unwrap_or(0),
        stdout_truncated: row.int("stdout_truncated")?.is_some_and(|flag| flag != 0),
        stderr_truncated: row.int("stderr_truncated")?.is_some_and(|flag| flag != 0),
        error: row.text("error_head")?,
        progress: progress(row.int("progress_percent")?, row.text("progress_message")?),
        node: row.text("node")?,
        schedule: row.text("schedule")?,
        schedule_tick: row.int("schedule_tick")?.map(time),
        lane: required_text(row, "lane")?,
        workflow: row.int("workflow_id")?,
        call: row.text("call_function")?,
        params_head: row.text("call_params_head")?,
    })
}

/// The strings at the start of a JSON array of strings that may be cut anywhere, and whether
/// the array was whole.
fn leading_strings(json: &str) -> (Vec<String>, bool) {
    let mut found = Vec::new();
    let Some(mut rest) = json.trim_start().strip_prefix('[') else {
        return (found, false);
    };
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(']') {
            return (found, after.trim().is_empty());
        }
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<String>();
        match values.next() {
            Some(Ok(value)) => found.push(value),
            _ => return (found, false),
        }
        rest = rest[values.byte_offset()..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::leading_strings;

    #[test]
    fn leading_strings_of_a_whole_or_cut_json_array() {
        let whole = serde_json::to_string(&["a", "b c", "d\"e"]).unwrap();
        assert_eq!(leading_strings(&whole), (vec!["a".into(), "b c".into(), "d\"e".into()], true));
        assert_eq!(leading_strings("[]"), (vec![], true));
        // Cut inside the third string, inside an escape, after a comma, before the bracket.
        let cut = |n: usize| leading_strings(&whole[..n]);
        assert_eq!(cut(whole.len() - 3), (vec!["a".into(), "b c".into()], false));
        assert_eq!(cut(whole.len() - 4), (vec!["a".into(), "b c".into()], false));
        assert_eq!(cut(11), (vec!["a".into(), "b c".into()], false));
        assert_eq!(cut(whole.len() - 1), (vec!["a".into(), "b c".into(), "d\"e".into()], false));
        assert_eq!(leading_strings(""), (vec![], false));
    }
}

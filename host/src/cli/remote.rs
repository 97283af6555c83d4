//! What the client verbs share: where the service is (`--server`, `--token`, `--json`),
//! running their requests, turning a [`ClientError`] into a message and an exit code, and
//! plain-text tables and times. Talking HTTP is `crate::client`'s job, not this file's.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::exit;
use crate::client::{Client, ClientError};

/// How to reach the service, and how to print its answers.
#[derive(Debug, Clone, Args)]
pub struct RemoteOptions {
    /// The service's URL (http:// only).
    #[arg(
        long,
        env = "WASMPOOL_SERVER",
        value_name = "URL",
        global = true,
        default_value = "http://127.0.0.1:8080",
        value_parser = parse_server
    )]
    pub server: String,
    /// API token, sent as `Authorization: Bearer TOKEN`.
    #[arg(
        long,
        env = "WASMPOOL_TOKEN",
        value_name = "TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Print the service's JSON answer instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The client options given before the verb (`wasmpool --server URL jobs`); they apply to
/// the verb unless it is given them again after its name.
#[derive(Debug, Clone, Args)]
pub struct LeadingOptions {
    /// For the client verbs: the service's URL (also accepted after the verb).
    #[arg(long, value_name = "URL", value_parser = parse_server)]
    pub server: Option<String>,
    /// For the client verbs: the API token (also accepted after the verb).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// For the client verbs: print the service's JSON answer (also accepted after the verb).
    #[arg(long)]
    pub json: bool,
}

impl LeadingOptions {
    /// The first option given, as written on the command line, if any.
    pub fn given(&self) -> Option<&'static str> {
        [
            (self.server.is_some(), "--server"),
            (self.token.is_some(), "--token"),
            (self.json, "--json"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }
}

fn parse_server(text: &str) -> Result<String, String> {
    crate::client::parse_server(text).map(|_| text.to_string()).map_err(|error| error.to_string())
}

impl RemoteOptions {
    /// Runs `work` with a client for the service on a single-threaded runtime (a client
    /// needs no more). A [`ClientError`] is reported here: `wasmpool: MESSAGE` on stderr and
    /// its exit code; any other error goes up to the caller.
    pub fn run(
        &self,
        work: impl AsyncFnOnce(Client) -> anyhow::Result<ExitCode>,
    ) -> anyhow::Result<ExitCode> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let result = runtime.block_on(async {
            let client = Client::new(&self.server, self.token.clone())?;
            work(client).await
        });
        match result {
            Err(error) => match error.downcast_ref::<ClientError>() {
                Some(client_error) => {
                    eprintln!("wasmpool: {client_error}");
                    Ok(ExitCode::from(client_exit_code(client_error)))
                }
                None => Err(error),
            },
            ok => ok,
        }
    }

    /// Prints `value` as JSON when `--json` was given; says whether it did.
    pub fn print_json<T: Serialize>(&self, value: &T) -> anyhow::Result<bool> {
        if self.json {
            let text = serde_json::to_string_pretty(value)? + "\n";
            super::write_stdout(text.as_bytes())?;
        }
        Ok(self.json)
    }
}

/// The exit code for a request that failed.
pub fn client_exit_code(error: &ClientError) -> u8 {
    match error {
        ClientError::Unreachable { .. } => exit::UNREACHABLE,
        // A body we cannot read is as much the server's answer as an error status.
        ClientError::Api { .. } | ClientError::Decode { .. } => exit::API_ERROR,
        ClientError::InvalidServer { .. } => exit::USAGE,
    }
}

/// Rows as aligned columns, two spaces apart, without trailing blanks. The first row is
/// usually the header.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter().filter_map(|row| row.get(column)).map(|cell| cell.chars().count()).max()
        })
        .map(Option::unwrap_or_default)
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(&format!("{cell:<width$}  "));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The first 12 hex digits of a module hash: enough to tell modules apart in a table.
pub fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// `-` for an absent value.
pub fn or_dash<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |value| value.to_string())
}

/// A timestamp from the service (RFC 3339, UTC).
pub fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

/// How long from `start` to `end`, when both are readable and in order.
pub fn between(start: Option<&str>, end: Option<&str>) -> Option<Duration> {
    parse_time(end?)?.duration_since(parse_time(start?)?).ok()
}

/// How long ago `text` was, compactly (`45s ago`, `12m ago`, `3h ago`, `2d ago`); the text
/// itself when it is not a timestamp, `just now` when it is in the future (clock skew).
pub fn ago(text: &str, now: SystemTime) -> String {
    let Some(time) = parse_time(text) else {
        return text.to_string();
    };
    let Ok(age) = now.duration_since(time) else {
        return "just now".to_string();
    };
    let seconds = age.as_secs();
    match seconds {
        0..60 => format!("{seconds}s ago"),
        60..3600 => format!("{}m ago", seconds / 60),
        3600..86400 => format!("{}h ago", seconds / 3600),
        _ => format!("{}d ago", seconds / 86400),
    }
}

/// How long until `time`, to the second and in two units at most (`45s`, `9m 58s`, `3h 5m`,
/// `2d 4h`); `None` when `time` is not a timestamp or has passed.
pub fn until(time: &str, now: SystemTime) -> Option<String> {
    let seconds = parse_time(time)?.duration_since(now).ok()?.as_secs();
    let (big, small) = match seconds {
        0..60 => return Some(format!("{seconds}s")),
        60..3600 => ((seconds / 60, "m"), (seconds % 60, "s")),
        3600..86400 => ((seconds / 3600, "h"), (seconds % 3600 / 60, "m")),
        _ => ((seconds / 86400, "d"), (seconds % 86400 / 3600, "h")),
    };
    Some(format!("{}{} {}{}", big.0, big.1, small.0, small.1))
}

/// A job's state for people: `queued, due in 9m 58s` for a job whose delay has not passed.
pub fn state_text(state: crate::job::JobState, run_at: Option<&str>, now: SystemTime) -> String {
    match run_at.and_then(|run_at| until(run_at, now)) {
        Some(wait) => format!("{state}, due in {wait}"),
        None => state.to_string(),
    }
}

/// A job with every optional field empty, for the verbs' tests to fill in what they check.
#[cfg(test)]
pub fn sample_job(id: i64, state: crate::job::JobState) -> crate::wire::JobView {
    crate::wire::JobView {
        id,
        name: None,
        module: "ab".repeat(32),
        module_name: None,
        argv0: None,
        args: Vec::new(),
        env: Default::default(),
        job_env: false,
        priority: 0,
        state,
        attempts: 1,
        max_attempts: 1,
        timeout_ms: 1000,
        memory_mb: 64,
        fuel: None,
        submitted_at: "2025-01-02T03:04:00Z".into(),
        started_at: None,
        finished_at: None,
        worker_pid: None,
        exit_code: None,
        stdout: None,
        stdout_base64: None,
        stderr: None,
        stderr_base64: None,
        stdout_truncated: false,
        stderr_truncated: false,
        error: None,
        fuel_used: None,
        peak_memory_bytes: None,
        progress: None,
        node: None,
        schedule: None,
        scheduled_for: None,
        run_at: None,
        call: None,
        params: None,
        result: None,
        lane: "default".into(),
        attempts_history: Vec::new(),
        mounts: Vec::new(),
        workflow: None,
        on_parent_failure: None,
        concurrency_key: None,
        concurrency_limit: None,
        rate_limits: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|cell| cell.to_string()).collect()
    }

    #[test]
    fn tables_align_columns_without_trailing_blanks() {
        let text = table(&[
            row(&["ID", "STATE", "NAME"]),
            row(&["7", "queued", ""]),
            row(&["12345", "ok", "x"]),
        ]);
        assert_eq!(text, "ID     STATE   NAME\n7      queued\n12345  ok      x\n");
        assert_eq!(table(&[]), "");
        // Widths count characters, not bytes.
        assert_eq!(table(&[row(&["µs", "a"]), row(&["ms", "b"])]), "µs  a\nms  b\n");
    }

    #[test]
    fn client_errors_map_to_exit_codes() {
        let api =
            ClientError::Api { status: 404, code: "not_found".into(), message: "gone".into() };
        assert_eq!(client_exit_code(&api), 1);
        let invalid = crate::client::parse_server("ftp://x").expect_err("not http");
        assert_eq!(client_exit_code(&invalid), 2);
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        // Port 1 on loopback has no listener, so the connection is refused at once.
        let options =
            RemoteOptions { server: "http://127.0.0.1:1".into(), token: None, json: false };
        let code = options.run(async |client| {
            let error = client.pool().await.expect_err("nothing listens on port 1");
            assert!(matches!(error, ClientError::Unreachable { .. }), "{error}");
            assert!(error.to_string().contains("check --server or WASMPOOL_SERVER"), "{error}");
            Err(error.into())
        });
        assert_eq!(code.expect("a client error is reported, not returned"), ExitCode::from(69));
    }

    #[test]
    fn times() {
        let now = parse_time("2025-01-02T03:04:05Z").expect("valid");
        assert_eq!(ago("2025-01-02T03:04:00.5Z", now), "4s ago");
        assert_eq!(ago("2025-01-02T02:04:05+00:00", now), "1h ago");
        assert_eq!(ago("2024-12-30T03:04:05Z", now), "3d ago");
        assert_eq!(ago("2025-01-02T03:05:00Z", now), "just now");
        assert_eq!(ago("yesterday", now), "yesterday");
        let run = between(Some("2025-01-02T03:04:05Z"), Some("2025-01-02T03:04:06.5Z"));
        assert_eq!(run, Some(Duration::from_millis(1500)));
        assert_eq!(between(Some("2025-01-02T03:04:05Z"), None), None);
        assert_eq!(short_hash("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_hash("abc"), "abc");
        assert_eq!(until("2025-01-02T03:14:03Z", now).as_deref(), Some("9m 58s"));
        assert_eq!(until("2025-01-02T03:04:50Z", now).as_deref(), Some("45s"));
        assert_eq!(until("2025-01-04T07:04:05Z", now).as_deref(), Some("2d 4h"));
        assert_eq!(until("2025-01-02T03:04:00Z", now), None);
    }
}

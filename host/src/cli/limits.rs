//! `wasmpool limits`: the caller's tenant's named rate limits on a running service.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::remote::{RemoteOptions, table};
use crate::wire::{RateLimitSet, RateLimitView};

/// Set, list or remove rate limits. A job names the limits it uses (`submit --rate-limit
/// NAME`, or `"rate_limits"` in the API) and starts only when each allows it.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool limits set openai 100/1m --burst 20
  wasmpool limits ls
  wasmpool limits rm openai")]
pub struct LimitsCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    #[command(subcommand)]
    action: LimitsAction,
}

/// What to do with rate limits.
#[derive(Debug, Subcommand)]
enum LimitsAction {
    /// Set a limit (made if new): at most N jobs naming it start per WINDOW.
    Set {
        /// Its name.
        name: String,
        /// N/WINDOW: starts per window, e.g. 100/1m, 10/1s, 5000/1h.
        #[arg(value_name = "N/WINDOW", value_parser = parse_rate)]
        rate: (u64, u64),
        /// Starts that may go at once after a quiet while (default 1: evenly spread).
        #[arg(long, value_name = "N")]
        burst: Option<u64>,
    },
    /// List the limits, with the starts each allows now and the jobs waiting on it.
    Ls,
    /// Remove a limit: jobs naming it are no longer held by it.
    Rm {
        /// Its name.
        name: String,
    },
}

/// `N/WINDOW` as starts and milliseconds.
fn parse_rate(text: &str) -> Result<(u64, u64), String> {
    let (count, window) =
        text.split_once('/').ok_or_else(|| format!("`{text}` is not N/WINDOW (try 100/1m)"))?;
    let count: u64 = count.parse().map_err(|_| format!("`{count}` is not a whole number"))?;
    let window = if window.starts_with(|c: char| c.is_ascii_digit()) {
        window.to_string()
    } else {
        format!("1{window}")
    };
    let window = wasmpool_protocol::units::parse_duration(&window)?;
    Ok((count, window.as_millis() as u64))
}

impl LimitsCommand {
    /// Carries out the action.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            match &self.action {
                LimitsAction::Set { name, rate: (per, window_ms), burst } => {
                    let set = RateLimitSet { per: *per, window_ms: *window_ms, burst: *burst };
                    let limit = client.set_rate_limit(name, &set).await?;
                    if !self.remote.print_json(&limit)? {
                        super::write_stdout(render(&[limit]).as_bytes())?;
                    }
                }
                LimitsAction::Ls => {
                    let limits = client.rate_limits().await?;
                    if !self.remote.print_json(&limits)? {
                        super::write_stdout(render(&limits).as_bytes())?;
                    }
                }
                LimitsAction::Rm { name } => {
                    client.delete_rate_limit(name).await?;
                    if !self.remote.print_json(&serde_json::json!({ "removed": name }))? {
                        super::write_stdout(format!("rate limit {name} removed\n").as_bytes())?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

fn render(limits: &[RateLimitView]) -> String {
    let mut rows =
        vec![["NAME", "RATE", "BURST", "AVAILABLE", "WAITING"].map(String::from).to_vec()];
    rows.extend(limits.iter().map(|limit| {
        vec![
            limit.name.clone(),
            format!("{}/{}ms", limit.per, limit.window_ms),
            limit.burst.to_string(),
            limit.available.to_string(),
            limit.waiting.to_string(),
        ]
    }));
    table(&rows)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_read_as_starts_per_window() {
        assert_eq!(super::parse_rate("100/1m"), Ok((100, 60_000)));
        assert_eq!(super::parse_rate("10/s"), Ok((10, 1000)));
        assert_eq!(super::parse_rate("5/500ms"), Ok((5, 500)));
        assert!(super::parse_rate("100").is_err());
        assert!(super::parse_rate("x/1m").is_err());
    }
}

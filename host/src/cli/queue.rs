//! `wasmpool queue`: feed and drain the service's named queues, the ones jobs use through
//! `wasmpool:task/queue` (the seeds' managers example: a master puts tasks, workers put
//! results).

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};

use super::remote::{RemoteOptions, table};
use crate::units::{format_duration, parse_duration};

/// Put items on a named queue, take them off, look at them, empty it, or list the queues.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool queue put tasks 1 2 3 4 5          (one item per argument)
  echo hello | wasmpool queue put --stdin inbox
  wasmpool queue get --timeout 10s --count 5 results    (up to 5 items within 10s in all)
  wasmpool queue ls
  wasmpool queue peek -n 3 results      (the next three items, not taken)
  wasmpool queue purge results")]
pub struct QueueCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    #[command(subcommand)]
    action: QueueAction,
}

#[derive(Debug, Subcommand)]
enum QueueAction {
    /// Put items on a queue: one per ITEM, or this command's stdin as one item.
    Put {
        /// Wait this long for room in a full queue (default: the service's put timeout).
        #[arg(long, value_name = "DUR", value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// Put this command's stdin as one item.
        #[arg(long, conflicts_with = "items")]
        stdin: bool,
        /// The queue.
        name: String,
        /// The items.
        #[arg(required_unless_present = "stdin")]
        items: Vec<String>,
    },
    /// Take up to N items off a queue and print them, one per line, as they come; stop at N
    /// or when --timeout has passed (exit 1 only if no item came at all).
    Get {
        /// Wait at most this long for the items, all of them together (a bare number is
        /// seconds; default: take only what is there now).
        #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "0s")]
        timeout: Duration,
        /// How many items to take at most.
        #[arg(long, short = 'n', value_name = "N", default_value_t = 1)]
        count: usize,
        /// The queue.
        name: String,
    },
    /// List the non-empty queues with their lengths.
    Ls,
    /// Show a queue's oldest items without taking them (each cut to a preview).
    Peek {
        /// How many of the oldest items, 1 to 100.
        #[arg(long, short = 'n', value_name = "N", default_value_t = 10,
              value_parser = clap::value_parser!(u32).range(1..=100))]
        count: u32,
        /// The queue.
        name: String,
    },
    /// Remove every item of a queue (prints how many).
    Purge {
        /// The queue.
        name: String,
    },
}

impl QueueCommand {
    /// Puts, gets or lists.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let stdin_item = match &self.action {
            QueueAction::Put { stdin: true, .. } => {
                let mut item = Vec::new();
                std::io::stdin().read_to_end(&mut item).context("cannot read stdin")?;
                Some(item)
            }
            _ => None,
        };
        let code = self.remote.run(async |client| match &self.action {
            QueueAction::Put { timeout, name, items, .. } => {
                let items: Vec<Vec<u8>> = match stdin_item.clone() {
                    Some(item) => vec![item],
                    None => items.iter().map(|item| item.clone().into_bytes()).collect(),
                };
                let mut last = None;
                for item in items {
                    last = Some(client.queue_put(name, item, *timeout).await?);
                }
                if let Some(queue) = last
                    && !self.remote.print_json(&queue)?
                {
                    println!("{} now holds {} item(s)", queue.name, queue.length);
                }
                Ok(ExitCode::SUCCESS)
            }
            QueueAction::Get { timeout, count, name } => get(&client, name, *count, *timeout).await,
            QueueAction::Peek { count, name } => {
                let peeked = client.queue_peek(name, *count).await?;
                if !self.remote.print_json(&peeked)? {
                    print!("{}", peek_table(&peeked));
                }
                Ok(ExitCode::SUCCESS)
            }
            QueueAction::Purge { name } => {
                let purged = client.queue_purge(name).await?;
                if !self.remote.print_json(&purged)? {
                    println!("{name}: {} item(s) removed", purged.removed);
                }
                Ok(ExitCode::SUCCESS)
            }
            QueueAction::Ls => {
                let queues = client.queues().await?;
                if !self.remote.print_json(&queues)? {
                    let mut rows = vec![vec!["QUEUE".into(), "ITEMS".into(), "OLDEST".into()]];
                    rows.extend(queues.iter().map(|q| {
                        let age = q.oldest_age_ms.map(Duration::from_millis);
                        let age = age.map(format_duration);
                        vec![q.name.clone(), q.length.to_string(), age.unwrap_or_default()]
                    }));
                    print!("{}", table(&rows));
                }
                Ok(ExitCode::SUCCESS)
            }
        })?;
        if code == ExitCode::from(super::exit::UNREACHABLE) {
            // Someone who ran jobs with `run` or `map` may look for their queues here.
            eprintln!(
                "wasmpool: named queues live in a running service: start one with `wasmpool \
                 serve` (jobs under `wasmpool run` or `map` have no queues)"
            );
        }
        Ok(code)
    }
}

/// `queue get`: up to `count` items, each printed as it comes, waiting up to `timeout` in
/// all; exit 1 when none came.
async fn get(
    client: &crate::client::Client,
    name: &str,
    count: usize,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let deadline = Instant::now() + timeout;
    let mut taken = 0;
    while taken < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(item) = client.queue_get(name, left).await? else {
            // The service cuts each wait to its --max-wait: ask again while the deadline has
            // not passed.
            if Instant::now() < deadline {
                continue;
            }
            break;
        };
        // Each item as it comes: a reader piped to this sees it at once.
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&item)?;
        stdout.write_all(b"\n")?;
        stdout.flush()?;
        taken += 1;
    }
    if taken == 0 {
        let within = format_duration(timeout);
        eprintln!("wasmpool: no item arrived on queue {name} within {within}");
        return Ok(ExitCode::from(super::exit::API_ERROR));
    }
    Ok(ExitCode::SUCCESS)
}

/// `ID SIZE AGE ITEM` rows, each item's preview on one line (`…` where it was cut).
fn peek_table(peeked: &crate::wire::QueueItems) -> String {
    let mut rows = vec![["ID", "SIZE", "AGE", "ITEM"].map(String::from).to_vec()];
    rows.extend(peeked.items.iter().map(|item| {
        let mut preview = item.preview.escape_debug().to_string();
        if item.truncated {
            preview.push('…');
        }
        let age = format_duration(Duration::from_millis(item.age_ms));
        vec![item.id.to_string(), crate::units::format_size(item.size), age, preview]
    }));
    let mut text = table(&rows);
    text.push_str(&format!("{}: {} item(s) in all\n", peeked.name, peeked.length));
    text
}

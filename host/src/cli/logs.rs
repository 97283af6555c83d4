//! `wasmpool logs`: a job's output, its stdout on ours and its stderr on ours, so far or, with
//! `-f`, as the job writes it until the job ends (as `kubectl logs -f` and `docker logs -f`).

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::exit;
use super::remote::RemoteOptions;
use crate::client::Client;

/// Print a job's output: its stdout to stdout, its stderr to stderr. With -f, keep printing
/// as the job writes, until it ends; then exit 0 whatever the job's own exit code (as
/// `kubectl logs -f`; `wasmpool wait ID` gives that code).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool logs 42
  wasmpool logs -f 42
  wasmpool logs -f 42 2>/dev/null | grep ERROR
  wasmpool logs -f 42 && wasmpool wait 42   # then exit with the job's code

Exit status: 0 once the output is printed (with -f: once the job ended), 1 when the service
says no (no such job), 69 when it cannot be reached, 75 when the service stopped sending
before the job ended (it was shutting down).")]
pub struct LogsCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    /// Follow: keep printing output as the job writes it, until the job ends.
    #[arg(short, long)]
    follow: bool,
    /// Print only the last N lines of each stream (not with -f).
    #[arg(long, value_name = "N", conflicts_with = "follow")]
    tail: Option<usize>,
    /// The job's id.
    id: i64,
}

impl LogsCommand {
    /// Copies the job's output to ours.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            tokio::try_join!(
                copy(&client, self.id, "stdout", (self.follow, self.tail), std::io::stdout),
                copy(&client, self.id, "stderr", (self.follow, self.tail), std::io::stderr),
            )?;
            if self.follow && !client.job(self.id).await?.state.is_terminal() {
                let id = self.id;
                eprintln!(
                    "wasmpool: the service stopped sending job {id}'s output before it ended"
                );
                return Ok(ExitCode::from(exit::STILL_RUNNING));
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

/// Copies one stream of the job to `sink` as it arrives. A reader that went away (`logs -f
/// ID | head`) ends the copy quietly, as it would `cat`.
async fn copy<W: Write>(
    client: &Client,
    id: i64,
    stream: &str,
    (follow, tail): (bool, Option<usize>),
    sink: fn() -> W,
) -> anyhow::Result<()> {
    let mut chunks = client.output(id, stream, follow).await?;
    if let Some(lines) = tail {
        let mut all = Vec::new();
        while let Some(chunk) = chunks.next().await? {
            all.extend_from_slice(&chunk);
        }
        return write_quietly(&mut sink(), last_lines(&all, lines));
    }
    while let Some(chunk) = chunks.next().await? {
        let mut sink = sink();
        match sink.write_all(&chunk).and_then(|()| sink.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Writes all of `bytes`, ending quietly at a closed pipe.
fn write_quietly(sink: &mut impl Write, bytes: &[u8]) -> anyhow::Result<()> {
    match sink.write_all(bytes).and_then(|()| sink.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The last `n` lines of `output` (a last line without its newline counts as one).
fn last_lines(output: &[u8], n: usize) -> &[u8] {
    let body = output.strip_suffix(b"\n").unwrap_or(output);
    let start = body
        .iter()
        .enumerate()
        .rev()
        .filter(|&(_, &byte)| byte == b'\n')
        .nth(n.saturating_sub(1))
        .map_or(0, |(at, _)| at + 1);
    if n == 0 { &output[output.len()..] } else { &output[start..] }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_last_lines_keep_their_newlines() {
        assert_eq!(super::last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(super::last_lines(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(super::last_lines(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(super::last_lines(b"a\nb\n", 0), b"");
    }
}

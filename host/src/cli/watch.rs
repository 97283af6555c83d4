//! `jobs --watch`: the list drawn again whenever jobs change, as `kubectl get --watch` and
//! `watch docker ps` do. Changes are heard on the service's event stream (`GET /v1/events`),
//! not polled; the list is drawn at most twice a second however busy the service is, and the
//! command ends quietly when its reader goes away (`| head`) or on ctrl-c.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use super::exit;
use crate::client::Client;

/// Shortest time between two drawings.
const REDRAW_EVERY: Duration = Duration::from_millis(500);

/// Largest event text kept while looking for the end of an event (a pool frame of a big
/// cluster is a few hundred KiB; anything longer is not an event of ours).
const MAX_PENDING: usize = 16 << 20;

/// Draws `draw`'s text, then again after every change, until the reader goes away (0) or
/// the service ends the stream (75).
pub async fn watch(
    client: &Client,
    mut draw: impl AsyncFnMut(&Client) -> anyhow::Result<String>,
) -> anyhow::Result<ExitCode> {
    let mut events = client.events().await?;
    let terminal = std::io::stdout().is_terminal();
    let mut pending = String::new();
    loop {
        let text = draw(client).await?;
        // A terminal shows the newest drawing alone; a pipe or file gets each in turn.
        let frame = if terminal { format!("\x1b[H\x1b[2J{text}") } else { format!("{text}\n") };
        let mut stdout = std::io::stdout().lock();
        match stdout.write_all(frame.as_bytes()).and_then(|()| stdout.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            other => other?,
        }
        drop(stdout);
        loop {
            let Some(chunk) = events.next().await? else {
                eprintln!("wasmpool: the service ended the event stream (it is shutting down)");
                return Ok(ExitCode::from(exit::STILL_RUNNING));
            };
            pending.push_str(&String::from_utf8_lossy(&chunk));
            if jobs_changed(&mut pending) {
                break;
            }
            anyhow::ensure!(pending.len() <= MAX_PENDING, "the event stream sent no event end");
        }
        tokio::time::sleep(REDRAW_EVERY).await;
    }
}

/// Consumes the whole events in `pending`; whether any said jobs changed (`jobs`, `deleted`).
fn jobs_changed(pending: &mut String) -> bool {
    let mut changed = false;
    while let Some(end) = pending.find("\n\n") {
        let block: String = pending.drain(..end + 2).collect();
        changed |= block.lines().any(|line| matches!(line, "event: jobs" | "event: deleted"));
    }
    changed
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_whole_job_events_count() {
        let mut pending = "event: pool\ndata: {}\n\nevent: jo".to_string();
        assert!(!super::jobs_changed(&mut pending));
        assert_eq!(pending, "event: jo");
        pending.push_str("bs\ndata: []\n\n");
        assert!(super::jobs_changed(&mut pending));
        assert!(pending.is_empty());
        pending.push_str("event: deleted\ndata: [1]\n\n");
        assert!(super::jobs_changed(&mut pending));
    }
}

//! A notice on a terminal while something slow happens (compiling or uploading a large
//! module), so a long silence does not look like a hang.

use std::io::IsTerminal;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

use crate::units::format_duration;

/// Runs `work`, and on a terminal shows `message` with a spinner once it has taken long enough
/// to be noticed (a large module can take tens of seconds to compile; a cached one loads at
/// once and shows nothing).
pub fn with_notice<T>(message: String, work: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let (finished, done) = std::sync::mpsc::channel::<()>();
    let notice = std::thread::spawn(move || {
        if done.recv_timeout(NOTICE_AFTER) != Err(RecvTimeoutError::Timeout) {
            return;
        }
        let spinner = ProgressBar::new_spinner().with_message(message);
        spinner.enable_steady_tick(Duration::from_millis(100));
        let started = Instant::now();
        let _ = done.recv();
        spinner.finish_with_message(format!(
            "done in {}",
            format_duration(started.elapsed() + NOTICE_AFTER)
        ));
    });
    let result = work();
    drop(finished);
    let _ = notice.join();
    result
}

/// Compiles quicker than this pass in silence.
const NOTICE_AFTER: Duration = Duration::from_millis(300);

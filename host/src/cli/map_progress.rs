//! `map`'s progress on stderr: the bar a terminal shows, and the plain lines `--eta` prints
//! where there is none (a pipe, a log file, CI).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// The bar drawn on a terminal's stderr (hidden elsewhere).
pub fn bar(jobs: usize) -> ProgressBar {
    // indicatif's own `{per_sec}` prints four decimals ("13.2036/s").
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} jobs, {rate}, eta {eta}")
        .expect("valid progress template")
        .with_key("rate", |state: &ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = write!(out, "{}", format_rate(state.per_sec()));
        });
    ProgressBar::new(jobs as u64).with_style(style)
}

/// A rate for people: three significant digits at most.
pub fn format_rate(per_sec: f64) -> String {
    match per_sec {
        rate if rate >= 100.0 => format!("{rate:.0}/s"),
        rate if rate >= 10.0 => format!("{rate:.1}/s"),
        rate => format!("{rate:.2}/s"),
    }
}

/// Plain progress lines (`--eta`): the first finished job's, then at most one a second.
pub struct Eta {
    total: usize,
    done: usize,
    started: Instant,
    printed: Option<Instant>,
}

impl Eta {
    /// Nothing done yet, the clock started.
    pub fn new(total: usize) -> Eta {
        Eta { total, done: 0, started: Instant::now(), printed: None }
    }

    /// Counts a finished job; prints a line unless one was printed within the second.
    pub fn finished_one(&mut self) {
        self.done += 1;
        if self.printed.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
            return;
        }
        self.printed = Some(Instant::now());
        eprintln!("{}", line(self.done, self.total, self.started.elapsed()));
    }
}

/// `map: 3/10 jobs done, 1.50/s, eta 5s`: the time left at the rate so far.
fn line(done: usize, total: usize, elapsed: Duration) -> String {
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
    let left = Duration::from_secs(((total - done) as f64 / rate).round() as u64);
    let left = humantime::format_duration(left);
    format!("map: {done}/{total} jobs done, {}, eta {left}", format_rate(rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_have_at_most_three_significant_digits() {
        assert_eq!(format_rate(13.2036), "13.2/s");
        assert_eq!(format_rate(1234.5), "1234/s");
        assert_eq!(format_rate(0.5), "0.50/s");
    }

    #[test]
    fn the_time_left_is_the_rest_at_the_rate_so_far() {
        assert_eq!(line(2, 10, Duration::from_secs(4)), "map: 2/10 jobs done, 0.50/s, eta 16s");
        assert_eq!(line(10, 10, Duration::from_secs(4)), "map: 10/10 jobs done, 2.50/s, eta 0s");
    }
}

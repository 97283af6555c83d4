//! The results of a run and their table: per row, the median with min and max over the
//! repetitions on each side (wasmpool, Python's `multiprocessing.Pool`, Celery), the ratios
//! wasmpool/Python and wasmpool/Celery of the medians, the target and whether wasmpool's
//! median met it.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::plan::Workload;
use crate::stats::Spread;

/// Which implementation a number comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Wasmpool,
    Python,
    /// Celery with a Redis broker and result backend (W1, W2, W3).
    Celery,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Wasmpool => "wasmpool",
            Side::Python => "Python",
            Side::Celery => "Celery",
        }
    }
}

/// What a row's numbers are.
#[derive(Clone, Copy, Debug)]
pub enum Unit {
    /// A rate or a size: plain numbers.
    Number,
    /// A yes/no check, recorded as 1 or 0; shown as how many runs said yes.
    Check,
}

/// What wasmpool's median must reach.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    None,
    /// wasmpool/Python at least this.
    RatioAtLeast(f64),
    /// At most this.
    AtMost(f64, &'static str),
    /// Strictly below this.
    Below(f64, &'static str),
    /// At least this.
    AtLeast(f64, &'static str),
    /// At most the median of another row of the same workload (its key) plus this many µs.
    AtMostRowPlus(&'static str, f64),
    /// A check that must hold in every run.
    Always,
}

/// One line of the table.
pub struct Row {
    pub workload: Workload,
    /// The key the workload reports the number under.
    pub key: &'static str,
    /// What it measures, with its unit.
    pub label: String,
    pub unit: Unit,
    pub target: Target,
}

/// Every number of a run, every failure, and notes on what ran how (or was skipped).
#[derive(Default)]
pub struct Results {
    samples: HashMap<(Workload, Side, &'static str), Vec<f64>>,
    pub errors: Vec<String>,
    pub notes: Vec<String>,
}

impl Results {
    pub fn add(&mut self, workload: Workload, side: Side, metrics: Vec<(&'static str, f64)>) {
        for (key, value) in metrics {
            self.samples.entry((workload, side, key)).or_default().push(value);
        }
    }

    fn get(&self, row: &Row, side: Side) -> &[f64] {
        self.samples.get(&(row.workload, side, row.key)).map_or(&[], Vec::as_slice)
    }

    /// The median of wasmpool's numbers under `key` for `workload`.
    fn median(&self, workload: Workload, key: &'static str) -> Option<f64> {
        let values = self.samples.get(&(workload, Side::Wasmpool, key))?;
        Spread::of(values).map(|s| s.median)
    }
}

/// The table in Markdown, followed by the notes and the failures if any.
pub fn table(rows: &[Row], results: &Results) -> String {
    let mut out = String::from(
        "| | metric | wasmpool median (min–max) | Python median (min–max) \
         | wasmpool/Python | Celery median (min–max) | wasmpool/Celery | target | |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let times = |r: Option<f64>| r.map_or("—".into(), |r| format!("{}×", number(r)));
    for row in rows {
        let ours = results.get(row, Side::Wasmpool);
        let python = results.get(row, Side::Python);
        let celery = results.get(row, Side::Celery);
        let ratio = ratio(row, ours, python);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.workload.id(),
            row.label,
            cell(row.unit, ours),
            other_side(row.workload.has_python(), row.unit, python),
            times(ratio),
            other_side(row.workload.has_celery(), row.unit, celery),
            times(self::ratio(row, ours, celery)),
            target(row.target),
            verdict(row, ours, ratio, results),
        );
    }
    if !results.notes.is_empty() {
        out.push_str("\nNotes:\n");
        for note in &results.notes {
            let _ = writeln!(out, "- {}", note.replace('\n', " "));
        }
    }
    if !results.errors.is_empty() {
        out.push_str("\nFailures:\n");
        for error in &results.errors {
            let _ = writeln!(out, "- {}", error.replace('\n', " "));
        }
    }
    out
}

fn ratio(row: &Row, ours: &[f64], theirs: &[f64]) -> Option<f64> {
    if matches!(row.unit, Unit::Check) {
        return None;
    }
    let (ours, theirs) = (Spread::of(ours)?, Spread::of(theirs)?);
    (theirs.median != 0.0).then(|| ours.median / theirs.median)
}

/// A peer's cell: "—" where the peer does not run the workload or reports no such number
/// (W2's `fdatasync` rows are wasmpool's alone; a failed run is listed under the table).
fn other_side(runs: bool, unit: Unit, values: &[f64]) -> String {
    if runs && !values.is_empty() { cell(unit, values) } else { "—".into() }
}

fn cell(unit: Unit, values: &[f64]) -> String {
    let Some(spread) = Spread::of(values) else { return "no data".into() };
    match unit {
        Unit::Check => {
            let yes = values.iter().filter(|v| **v != 0.0).count();
            format!("{} ({yes}/{})", if yes == values.len() { "yes" } else { "no" }, values.len())
        }
        Unit::Number if values.len() == 1 => number(spread.median),
        Unit::Number => {
            format!("{} ({}–{})", number(spread.median), number(spread.min), number(spread.max))
        }
    }
}

fn target(target: Target) -> String {
    match target {
        Target::None => String::new(),
        Target::RatioAtLeast(x) => format!("≥ {x}× Python"),
        Target::AtMost(x, unit) => format!("≤ {x} {unit}"),
        Target::Below(x, unit) => format!("< {x} {unit}"),
        Target::AtLeast(x, unit) => format!("≥ {x} {unit}"),
        Target::AtMostRowPlus(key, plus) => format!("≤ {key} + {plus} µs"),
        Target::Always => "every run".into(),
    }
}

fn verdict(row: &Row, ours: &[f64], ratio: Option<f64>, results: &Results) -> &'static str {
    let median = Spread::of(ours).map(|s| s.median);
    let met = match (row.target, median) {
        (Target::None, _) => return "",
        (_, None) => return "no data",
        (Target::RatioAtLeast(x), _) => match ratio {
            Some(r) => r >= x,
            None => return "no data",
        },
        (Target::AtMost(x, _), Some(m)) => m <= x,
        (Target::Below(x, _), Some(m)) => m < x,
        (Target::AtLeast(x, _), Some(m)) => m >= x,
        (Target::AtMostRowPlus(key, plus), Some(m)) => match results.median(row.workload, key) {
            Some(base) => m <= base + plus,
            None => return "no data",
        },
        (Target::Always, _) => ours.iter().all(|v| *v != 0.0),
    };
    if met { "met" } else { "**missed**" }
}

/// A number with about three significant digits (no more decimals than that).
pub fn number(x: f64) -> String {
    let magnitude = x.abs();
    if magnitude >= 100.0 || magnitude == 0.0 {
        format!("{x:.0}")
    } else if magnitude >= 10.0 {
        format!("{x:.1}")
    } else if magnitude >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

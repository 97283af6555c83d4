//! Order statistics over samples, with one definition shared by every workload (and by
//! `python_pool.py`): the p-th percentile of n sorted samples is the one at index
//! `min(n - 1, n * p / 100)`, so the median of an even count is the upper middle one.

use std::time::Duration;

/// The p-th percentile (0–100) of samples sorted ascending; `None` when there are none.
pub fn percentile(sorted: &[f64], p: usize) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[(sorted.len() * p / 100).min(last)])
}

/// Sorts samples ascending (NaN-free by construction: they are times and rates).
pub fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// Durations as microseconds, sorted ascending.
pub fn sorted_micros(times: &[Duration]) -> Vec<f64> {
    sorted(times.iter().map(|t| t.as_secs_f64() * 1e6).collect())
}

/// The arithmetic mean; `None` when there are no samples.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Median, smallest and largest of a set of samples.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// The spread of the samples; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let sorted = sorted(values.to_vec());
        Some(Spread {
            median: percentile(&sorted, 50)?,
            min: *sorted.first()?,
            max: *sorted.last()?,
        })
    }
}

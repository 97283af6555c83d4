//! What the dashboard asks of the store beyond single jobs: figures per module over the
//! ended jobs, jobs ended per time bucket, and the age of each queue's oldest item. Plain
//! data, filled by each backend with its own SQL (an index of each keeps them index-only:
//! `jobs_runs`, and `jobs_by_finish` with the state).

use std::time::{Duration, SystemTime};

use super::JobId;

/// What the store holds of one module's ended runs. A run is a job that ended `succeeded`,
/// `failed` or `timed_out` (a cancelled job is the operator's doing, not the module's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleStats {
    /// The module.
    pub hash: String,
    /// Its runs.
    pub runs: u64,
    /// Of which succeeded.
    pub succeeded: u64,
    /// Of which failed or timed out.
    pub failed: u64,
    /// The median run time (nearest rank), over the runs that started on a worker.
    pub p50: Option<Duration>,
    /// The 95th percentile run time (nearest rank).
    pub p95: Option<Duration>,
    /// Its latest failed or timed-out job.
    pub last_failure: Option<LastFailure>,
}

/// A module's latest failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastFailure {
    /// The job.
    pub job_id: JobId,
    /// Why it failed.
    pub error: Option<String>,
    /// When it ended.
    pub finished_at: SystemTime,
}

/// Jobs that ended within one time bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Where the bucket starts.
    pub start: SystemTime,
    /// Jobs that ended `succeeded` in it.
    pub succeeded: u64,
    /// Jobs that ended `failed` or `timed_out` in it.
    pub failed: u64,
}

/// A non-empty named queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueStat {
    /// Its name.
    pub name: String,
    /// Items in it.
    pub length: u64,
    /// How long its oldest item has waited (by the clock that stamped it: the host's on
    /// SQLite, the database's on PostgreSQL).
    pub oldest_age: Duration,
}

/// One item of a queue, looked at without taking it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueItem {
    /// Its id (items are taken in id order).
    pub id: i64,
    /// Its size in bytes.
    pub size: u64,
    /// Its first bytes (all of it when it is small).
    pub preview: Vec<u8>,
    /// How long it has waited (by the clock that stamped it, as [`QueueStat::oldest_age`]).
    pub age: Duration,
}

/// The value at nearest rank `percent` (1–100) of `values`: the smallest value with at
/// least that share of the values at or below it. Reorders `values`.
pub fn nearest_rank(values: &mut [i64], percent: usize) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let rank = (percent * values.len()).div_ceil(100).max(1);
    Some(*values.select_nth_unstable(rank - 1).1)
}

/// Microseconds as a duration (a negative run time, from clocks that stepped back, is 0).
pub fn duration(micros: i64) -> Duration {
    Duration::from_micros(micros.max(0) as u64)
}

/// `count` buckets of `width` from `from`, with the counts found per bucket index (those
/// not found are zero).
pub fn fill(
    from: SystemTime,
    width: Duration,
    count: u32,
    found: impl IntoIterator<Item = (i64, u64, u64)>,
) -> Vec<Bucket> {
    let mut buckets: Vec<Bucket> =
        (0..count).map(|i| Bucket { start: from + width * i, succeeded: 0, failed: 0 }).collect();
    for (index, succeeded, failed) in found {
        if let Some(bucket) = usize::try_from(index).ok().and_then(|i| buckets.get_mut(i)) {
            bucket.succeeded += succeeded;
            bucket.failed += failed;
        }
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_the_value_at_the_rank() {
        let mut ten: Vec<i64> = (1..=10).rev().collect();
        assert_eq!(nearest_rank(&mut ten, 50), Some(5));
        assert_eq!(nearest_rank(&mut ten, 95), Some(10));
        let mut twenty: Vec<i64> = (1..=20).collect();
        assert_eq!(nearest_rank(&mut twenty, 95), Some(19));
        assert_eq!(nearest_rank(&mut [7], 50), Some(7));
        assert_eq!(nearest_rank(&mut [], 50), None);
    }

    #[test]
    fn fill_keeps_empty_buckets_and_ignores_strays() {
        let from = SystemTime::UNIX_EPOCH;
        let filled = fill(from, Duration::from_secs(60), 3, [(1, 2, 3), (7, 1, 1), (-1, 1, 1)]);
        assert_eq!(filled.len(), 3);
        assert_eq!((filled[0].succeeded, filled[1].succeeded, filled[1].failed), (0, 2, 3));
        assert_eq!(filled[2].start, from + Duration::from_secs(120));
    }
}

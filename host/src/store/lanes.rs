//! The counts of queued and running jobs per lane (`/v1/pool`'s `lanes`): a walk of every
//! queued and running job (700 ms at a million queued on SQLite), so no call waits for one
//! once there is one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::backend::Reads;
use super::{Engine, LaneCount, Result, Store};

/// How long a count per lane is handed out before it is counted again, at least...
const COUNTS_FRESH: Duration = Duration::from_millis(250);
/// ...and at least this many times as long as counting took: a count walks every queued and
/// running job (700 ms at a million queued), and must not keep a reader busy all the time.
const COUNTS_COST_FACTOR: u32 = 10;

/// The counts per lane last read, with when and how long counting took; handed out again
/// while fresh, and while a count in the background replaces them.
#[derive(Default)]
pub(super) struct LaneCounts {
    last: Option<(std::time::Instant, Duration, BTreeMap<String, LaneCount>)>,
    counting: bool,
}

pub(super) type LaneCountCache = Arc<Mutex<LaneCounts>>;

impl Store {
    /// Queued and running jobs per lane, in the whole store (lanes with none left out).
    /// Counted at most a few times a second, and less often when counting is slow (a big
    /// queue); calls in between get the last count, and only the first call ever waits.
    pub async fn lane_counts(&self) -> Result<BTreeMap<String, LaneCount>> {
        let stale = {
            let mut cache = self.lane_counts.lock().expect("lane counts lock");
            let last = cache.last.as_ref().map(|(at, took, counts)| {
                (at.elapsed() >= COUNTS_FRESH.max(*took * COUNTS_COST_FACTOR), counts.clone())
            });
            if let Some((true, _)) = last
                && !cache.counting
            {
                cache.counting = true;
                let store = self.clone();
                tokio::spawn(async move { store.count_lanes().await });
            }
            last.map(|(_, counts)| counts)
        };
        match stale {
            // Never waits for a count once there is one: a caller gets the last, at most a
            // count's time older than the fresh one being made.
            Some(counts) => Ok(counts),
            None => self.count_lanes().await,
        }
    }

    /// Counts the jobs per lane and keeps the answer for [`Store::lane_counts`].
    async fn count_lanes(&self) -> Result<BTreeMap<String, LaneCount>> {
        let started = std::time::Instant::now();
        let counted = each!(self, store => store.lane_counts().await);
        let mut cache = self.lane_counts.lock().expect("lane counts lock");
        cache.counting = false;
        let counts = counted?;
        cache.last = Some((std::time::Instant::now(), started.elapsed(), counts.clone()));
        Ok(counts)
    }
}

//! The scheduler: a task per host that makes the jobs of the schedules' ticks. Every host
//! evaluates every enabled schedule and tries each tick that has come; the store lets exactly
//! one try through ([`Store::fire`]), so a tick makes one job however many hosts run, and a
//! host that restarts makes no tick twice.
//!
//! Which ticks a host tries (see [`Scheduler::due`]): those that have come by the store's
//! clock since the schedule's last handled tick and since it became active, and came while
//! this host was running; ticks before it started came while no host ran (as far as it can
//! tell: a host that ran then would have handled them) and are skipped — except, for a
//! schedule with `catch_up`, the most recent of them, once.
//!
//! It sleeps until the earliest next tick, and plans again at once when schedules change
//! (here, or on another host through the store's notifications). It owns no schedule state:
//! every round reads the store.

use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use wasmpool_protocol::validate::{self, ServiceLimits};

use crate::schedule::Timetable;
use crate::store::{Fired, NewJob, ScheduleRecord, Store, StoreError, Tick};
use crate::wire::JobRequest;

/// Longest sleep between rounds, whatever the schedules say: a change whose notification was
/// lost is seen within this.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Most ticks of one schedule made in one round (after a stall of this host).
const MAX_TICKS: usize = 16;
/// First wait after the store failed; doubles up to [`MAX_SLEEP`].
const RETRY: Duration = Duration::from_millis(500);

/// Checks a schedule's job request as a submission is checked (module, limits), resolving
/// its module now: `Ok(Err(reason))` when it cannot be submitted.
pub async fn check_job(
    store: &Store,
    request: JobRequest,
    limits: &ServiceLimits,
) -> Result<Result<NewJob, String>, StoreError> {
    let Some(module) = store.module(&request.module).await? else {
        return Ok(Err(format!("no module `{}`: upload it first", request.module)));
    };
    Ok(validate::new_job(request, module.hash, None, limits).map_err(|refused| refused.0))
}

/// The scheduler of this host.
pub struct Scheduler {
    store: Store,
    limits: ServiceLimits,
    /// When this host started scheduling, by the store's clock: ticks before it came while
    /// this host was not running.
    started: SystemTime,
}

impl Scheduler {
    /// A scheduler starting now.
    pub async fn new(store: Store, limits: ServiceLimits) -> Result<Scheduler, StoreError> {
        let started = store.now().await?;
        Ok(Scheduler { store, limits, started })
    }

    /// Makes ticks' jobs until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut changed = self.store.schedules_changed();
        let mut retry = RETRY;
        loop {
            changed.borrow_and_update();
            let sleep = match self.round().await {
                Ok(sleep) => {
                    retry = RETRY;
                    sleep
                }
                Err(e) => {
                    tracing::warn!("the scheduler could not read or fire schedules: {e}");
                    let sleep = retry;
                    retry = (retry * 2).min(MAX_SLEEP);
                    sleep
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                _ = changed.changed() => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// Fires what is due; returns how long to sleep until the next tick.
    async fn round(&self) -> Result<Duration, StoreError> {
        let schedules = self.store.schedules().await?;
        let now = self.store.now().await?;
        let mut earliest: Option<SystemTime> = None;
        for schedule in schedules.into_iter().filter(|schedule| schedule.enabled) {
            let timetable = match Timetable::parse(&schedule.cron, &schedule.timezone) {
                Ok(timetable) => timetable,
                // Checked when stored; a newer wasmpool's syntax, perhaps.
                Err(e) => {
                    tracing::warn!(schedule = schedule.name, "skipping a schedule: {e}");
                    continue;
                }
            };
            for tick in self.due(&schedule, &timetable, now) {
                self.fire(schedule.clone(), tick).await?;
            }
            if let Some(next) = timetable.next_after(now) {
                earliest = Some(earliest.map_or(next, |earliest| earliest.min(next)));
            }
        }
        let until_next = earliest
            .map_or(MAX_SLEEP, |next| next.duration_since(now).unwrap_or_default().min(MAX_SLEEP));
        Ok(until_next)
    }

    /// The ticks this host should try now, oldest first: those that came while it ran (the
    /// latest [`MAX_TICKS`] of them at most: a host that stalled longer skips the older
    /// ones), and with `catch_up` the most recent one that came before it started — each
    /// after the schedule's last handled tick and its `active_since`.
    fn due(
        &self,
        schedule: &ScheduleRecord,
        timetable: &Timetable,
        now: SystemTime,
    ) -> Vec<SystemTime> {
        let floor = schedule.active_since.max(schedule.last_tick.unwrap_or(SystemTime::UNIX_EPOCH));
        let mut ticks = Vec::new();
        let mut tick = timetable.latest_until(now);
        while let Some(at) = tick
            && at > floor
            && ticks.len() < MAX_TICKS
        {
            ticks.push(at);
            // Ticks before this host started came while no host ran (as far as it knows):
            // only the most recent of them is made, and only with catch_up.
            if at <= self.started {
                if !schedule.catch_up {
                    ticks.pop();
                }
                break;
            }
            tick = timetable.previous_before(at);
        }
        ticks.reverse();
        ticks
    }

    /// Tries one tick: checks the job as a submission (a deleted module becomes the tick's
    /// recorded error) and lets the store decide whether it is this host's to make.
    async fn fire(&self, schedule: ScheduleRecord, at: SystemTime) -> Result<(), StoreError> {
        let job = match serde_json::from_str::<JobRequest>(&schedule.job) {
            Ok(request) => check_job(&self.store, request, &self.limits).await?,
            Err(e) => Err(format!("the stored job request does not parse: {e}")),
        };
        let name = schedule.name.clone();
        let tick = humantime::format_rfc3339_micros(at).to_string();
        match self.store.fire(Tick { schedule, at, job }).await? {
            Fired::Made(job) => tracing::info!(schedule = name, tick, job, "schedule made a job"),
            Fired::Failed(error) => {
                tracing::warn!(schedule = name, tick, error, "schedule made no job");
            }
            Fired::Taken => {
                tracing::debug!(schedule = name, tick, "tick made by another host");
            }
        }
        Ok(())
    }
}

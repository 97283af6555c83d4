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
//! every round reads the store. It keeps only each schedule's parsed timetable, parsed again
//! only when the schedule's cron or time zone changed.
//!
//! Ticks a host could not keep up with (more than [`MAX_TICKS`] of one schedule in a round)
//! are skipped, and said so: a warning, the `wasmpool_schedule_ticks_skipped` counter and the
//! schedule's `ticks_skipped`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use wasmpool_protocol::validate::{self, ServiceLimits};

use crate::metrics::Metrics;
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
/// The job is `tenant`'s, and so is the module it names (by the tenant's name for it, or by a
/// hash the tenant uploaded).
pub async fn check_job(
    store: &Store,
    tenant: &str,
    request: JobRequest,
    limits: &ServiceLimits,
) -> Result<Result<NewJob, String>, StoreError> {
    let Some(module) = tenant_module(store, tenant, &request.module).await? else {
        return Ok(Err(format!("no module `{}`: upload it first", request.module)));
    };
    if !request.after.is_empty() {
        // Each tick's job would run after the same jobs, long ended: no schedule means that.
        return Ok(Err("a schedule's job cannot run after other jobs (`after`)".into()));
    }
    let name = request.module.clone();
    let mut job = match validate::new_job(request, module.hash, None, limits) {
        Ok(job) => job,
        Err(refused) => return Ok(Err(refused.0)),
    };
    job.tenant = tenant.to_string();
    Ok(check_call(&name, module.exports.as_deref(), &mut job).map(|()| job))
}

/// The module `tenant` names `name`: by its name for it, or by a hash it uploaded.
pub async fn tenant_module(
    store: &Store,
    tenant: &str,
    name: &str,
) -> Result<Option<crate::store::ModuleRecord>, StoreError> {
    let is_hash = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
    Ok(match is_hash {
        true => match store.module(name).await? {
            Some(module) if store.owns_module(tenant, &module.hash).await? => Some(module),
            _ => None,
        },
        false => store.module(&crate::store::stored_name(tenant, name)).await?,
    })
}

/// Checks a job's call against the module's exports (JSON as stored), or that the module is a
/// command; the checked parameters replace the given ones. A call whose parameters come from
/// its parents is checked against their number (`job.after`, resolved before).
pub fn check_call(module: &str, exports: Option<&str>, job: &mut NewJob) -> Result<(), String> {
    let exports: Option<crate::call::Exports> = exports
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| format!("the stored exports of module `{module}` do not parse: {e}"))?;
    if job.params_from_parents {
        let parents = job.after.len();
        return crate::call::check_parent_params(
            module,
            exports.as_ref(),
            job.call.as_deref(),
            parents,
        );
    }
    job.params = crate::call::check_job(
        module,
        exports.as_ref(),
        job.call.as_deref(),
        job.params.as_deref(),
    )?;
    Ok(())
}

/// Most skipped ticks of one schedule counted in one round (counting them costs as much as
/// making their times).
const MAX_COUNTED: u64 = 10_000;

/// The scheduler of this host.
pub struct Scheduler {
    store: Store,
    limits: ServiceLimits,
    /// The lanes this host serves (a tick's job for another lane needs a live host serving it).
    lanes: Vec<String>,
    metrics: Arc<Metrics>,
    /// When this host started scheduling, by the store's clock: ticks before it came while
    /// this host was not running.
    started: SystemTime,
    /// Each schedule's timetable by name, with the cron and time zone it was parsed from
    /// (`None`: they do not parse).
    timetables: HashMap<String, (String, String, Option<Timetable>)>,
}

impl Scheduler {
    /// A scheduler starting now, on a host serving `lanes`.
    pub async fn new(
        store: Store,
        limits: ServiceLimits,
        lanes: Vec<String>,
        metrics: Arc<Metrics>,
    ) -> Result<Scheduler, StoreError> {
        let started = store.now().await?;
        Ok(Scheduler { store, limits, lanes, metrics, started, timetables: HashMap::new() })
    }

    /// Makes ticks' jobs until `stop`.
    pub async fn run(mut self, stop: CancellationToken) {
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
    async fn round(&mut self) -> Result<Duration, StoreError> {
        let schedules = self.store.schedules().await?;
        let now = self.store.now().await?;
        self.timetables.retain(|name, _| schedules.iter().any(|s| &s.name == name));
        let mut earliest: Option<SystemTime> = None;
        for schedule in schedules.into_iter().filter(|schedule| schedule.enabled) {
            let Some(timetable) = self.timetable(&schedule) else { continue };
            let due = due(&schedule, &timetable, self.started, now);
            for (n, tick) in due.ticks.into_iter().enumerate() {
                let skipped = if n == 0 { due.skipped } else { 0 };
                self.fire(schedule.clone(), tick, skipped).await?;
            }
            if let Some(next) = timetable.next_after(now) {
                earliest = Some(earliest.map_or(next, |earliest| earliest.min(next)));
            }
        }
        let until_next = earliest
            .map_or(MAX_SLEEP, |next| next.duration_since(now).unwrap_or_default().min(MAX_SLEEP));
        Ok(until_next)
    }

    /// The schedule's timetable, parsed only if its cron or time zone changed since the last
    /// parse; `None` (said once) if it does not parse.
    fn timetable(&mut self, schedule: &ScheduleRecord) -> Option<Timetable> {
        if let Some((cron, zone, parsed)) = self.timetables.get(&schedule.name)
            && *cron == schedule.cron
            && *zone == schedule.timezone
        {
            return parsed.clone();
        }
        let parsed = match Timetable::parse(&schedule.cron, &schedule.timezone) {
            Ok(timetable) => Some(timetable),
            // Checked when stored; a newer wasmpool's syntax, perhaps.
            Err(e) => {
                tracing::warn!(schedule = schedule.name, "skipping a schedule: {e}");
                None
            }
        };
        let entry = (schedule.cron.clone(), schedule.timezone.clone(), parsed.clone());
        self.timetables.insert(schedule.name.clone(), entry);
        parsed
    }

    /// `job` if its lane is served by this host or another live one, else why not.
    async fn check_lane(&self, job: NewJob) -> Result<Result<NewJob, String>, StoreError> {
        if self.lanes.contains(&job.lane) || self.store.lanes_served().await?.contains(&job.lane) {
            return Ok(Ok(job));
        }
        Ok(Err(format!("no live host serves lane `{}`", job.lane)))
    }

    /// Tries one tick: checks the job as a submission (a deleted module or a lane no live host
    /// serves becomes the tick's recorded error) and lets the store decide whether it is this
    /// host's to make. `skipped` ticks before it are counted if it is.
    async fn fire(
        &self,
        schedule: ScheduleRecord,
        at: SystemTime,
        skipped: u64,
    ) -> Result<(), StoreError> {
        let job = match serde_json::from_str::<JobRequest>(&schedule.job) {
            Ok(request) => {
                let tenant = crate::store::split_name(&schedule.name).0;
                match check_job(&self.store, tenant, request, &self.limits).await? {
                    Ok(job) => self.check_lane(job).await?,
                    Err(reason) => Err(reason),
                }
            }
            Err(e) => Err(format!("the stored job request does not parse: {e}")),
        };
        let name = schedule.name.clone();
        let tick = humantime::format_rfc3339_micros(at).to_string();
        let fired = self.store.fire(Tick { schedule, at, job, skipped }).await?;
        if skipped > 0 && fired != Fired::Taken {
            self.metrics.ticks_skipped(skipped);
            tracing::warn!(
                schedule = name,
                skipped,
                before = tick,
                "schedule ticks skipped: this host fell behind (too many schedules, or a stall)"
            );
        }
        match fired {
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

/// What a round should do for one schedule.
struct Due {
    /// The ticks to try, oldest first.
    ticks: Vec<SystemTime>,
    /// Ticks that came while this host ran, older than those, that it will not make (counted
    /// up to [`MAX_COUNTED`]).
    skipped: u64,
}

/// The ticks a host that started at `started` should try now, oldest first: those that came while it ran (the
/// latest [`MAX_TICKS`] of them at most: a host that stalled or fell behind skips the
/// older ones, and counts them), and with `catch_up` the most recent one that came before
/// it started — each after the schedule's last handled tick and its `active_since`.
fn due(
    schedule: &ScheduleRecord,
    timetable: &Timetable,
    started: SystemTime,
    now: SystemTime,
) -> Due {
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
        if at <= started {
            if !schedule.catch_up {
                ticks.pop();
            }
            tick = None;
            break;
        }
        tick = timetable.previous_before(at);
    }
    // Ticks left over came while this host ran, but it could not keep up.
    let mut skipped = 0;
    while let Some(at) = tick
        && at > floor
        && at > started
        && skipped < MAX_COUNTED
    {
        skipped += 1;
        tick = timetable.previous_before(at);
    }
    ticks.reverse();
    Due { ticks, skipped }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn a_host_that_fell_behind_makes_the_latest_ticks_and_counts_the_others() {
        let every_second = Timetable::parse("* * * * * *", "UTC").unwrap();
        let schedule = ScheduleRecord {
            name: "s".into(),
            cron: "* * * * * *".into(),
            timezone: "UTC".into(),
            job: "{}".into(),
            enabled: true,
            catch_up: false,
            created_at: at(1000),
            active_since: at(1000),
            last_tick: Some(at(1010)),
            last_run_at: None,
            last_job_id: None,
            last_error: None,
            ticks_skipped: 0,
        };
        // Started at 1005, last made 1010, now 1050: 40 ticks came, 16 are made.
        let due = due(&schedule, &every_second, at(1005), at(1050));
        assert_eq!(due.ticks.len(), MAX_TICKS);
        assert_eq!((due.ticks[0], due.ticks[MAX_TICKS - 1]), (at(1035), at(1050)));
        assert_eq!(due.skipped, 40 - MAX_TICKS as u64);
        // Ticks before the host started are not skipped by it, but never its to make.
        let due_after_start = super::due(&schedule, &every_second, at(1045), at(1050));
        assert_eq!((due_after_start.ticks.len(), due_after_start.skipped), (5, 0));
    }
}

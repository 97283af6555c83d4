//! Schedules in the store: their rows, and the one write that makes a tick's job. Exactly one
//! job per tick, across restarts and hosts: `last_tick` only moves forward, and a tick's job is
//! made only by the transaction whose conditional update moved it to that tick (the
//! last-execution upsert Graphile Worker uses), so every host may try every tick and the
//! database lets one through.

use std::time::SystemTime;

use super::backend::Schedules;
use super::{Engine, JobId, NewJob, Result, Store};

/// A stored schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleRecord {
    /// Its name (the key).
    pub name: String,
    /// The cron expression (five fields, or six with seconds first).
    pub cron: String,
    /// The IANA time zone the expression is read in.
    pub timezone: String,
    /// The job request each tick submits, as JSON text.
    pub job: String,
    /// Whether it makes jobs (false: paused).
    pub enabled: bool,
    /// Whether a host starting after missed ticks makes a job for the most recent of them.
    pub catch_up: bool,
    /// When it was created.
    pub created_at: SystemTime,
    /// Ticks at or before this are never made (set at creation, at resume, and when the cron
    /// or time zone changes).
    pub active_since: SystemTime,
    /// The latest tick handled (its job made, or its failure recorded).
    pub last_tick: Option<SystemTime>,
    /// When that tick was handled.
    pub last_run_at: Option<SystemTime>,
    /// The job that tick made.
    pub last_job_id: Option<JobId>,
    /// Why that tick made no job.
    pub last_error: Option<String>,
    /// Ticks skipped because a host could not keep up (see `scheduler.rs`).
    pub ticks_skipped: u64,
}

/// A schedule to create.
#[derive(Clone, Debug, Default)]
pub struct NewSchedule {
    /// Its name.
    pub name: String,
    /// The cron expression (already checked).
    pub cron: String,
    /// The time zone (already checked).
    pub timezone: String,
    /// The job request as JSON text (already checked).
    pub job: String,
    /// Whether it starts enabled.
    pub enabled: bool,
    /// Whether missed ticks are caught up (the most recent one).
    pub catch_up: bool,
}

/// Changes to a schedule; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ScheduleChange {
    /// A new cron expression.
    pub cron: Option<String>,
    /// A new time zone.
    pub timezone: Option<String>,
    /// A new job request (JSON text).
    pub job: Option<String>,
    /// Pause (false) or resume (true).
    pub enabled: Option<bool>,
    /// Whether missed ticks are caught up.
    pub catch_up: Option<bool>,
}

/// A host's attempt to make one tick's job. It counts only while the schedule is still as
/// the host read it (same cron, time zone and job, enabled), the tick is after the schedule's
/// `active_since` and its `last_tick`, and the tick has come by the store's clock.
#[derive(Clone, Debug)]
pub struct Tick {
    /// The schedule as the host read it.
    pub schedule: ScheduleRecord,
    /// The tick.
    pub at: SystemTime,
    /// The job to submit, or why the schedule's job request cannot be submitted now (its
    /// module was deleted, …), which is recorded instead.
    pub job: Result<NewJob, String>,
    /// Ticks before this one the host skipped (it fell behind): counted if this tick is the
    /// host's to make.
    pub skipped: u64,
}

/// What became of a [`Tick`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fired {
    /// This host made the tick's job.
    Made(JobId),
    /// This host handled the tick, and recorded why it made no job.
    Failed(String),
    /// The tick was not this host's to make: another host made it, or the schedule changed
    /// (paused, edited, deleted) since it was read.
    Taken,
}

impl Store {
    /// The store's clock: the database's on PostgreSQL (every host of a cluster agrees on
    /// which ticks have come), this host's on SQLite.
    pub async fn now(&self) -> Result<SystemTime> {
        each!(self, store => store.now().await)
    }

    /// Creates a schedule; `None` when the name is taken (nothing changed).
    pub async fn create_schedule(&self, schedule: NewSchedule) -> Result<Option<ScheduleRecord>> {
        each!(self, store => store.create_schedule(schedule).await)
    }

    /// Changes a schedule; `None` when there is none of that name.
    pub async fn update_schedule(
        &self,
        name: String,
        change: ScheduleChange,
    ) -> Result<Option<ScheduleRecord>> {
        each!(self, store => store.update_schedule(name, change).await)
    }

    /// Deletes a schedule (the jobs it made stay); false when there is none of that name.
    pub async fn delete_schedule(&self, name: String) -> Result<bool> {
        each!(self, store => store.delete_schedule(name).await)
    }

    /// One schedule.
    pub async fn schedule(&self, name: &str) -> Result<Option<ScheduleRecord>> {
        each!(self, store => store.schedule(name).await)
    }

    /// How many schedules there are.
    pub async fn schedule_count(&self) -> Result<u64> {
        each!(self, store => store.schedule_count().await)
    }

    /// Every schedule, by name.
    pub async fn schedules(&self) -> Result<Vec<ScheduleRecord>> {
        each!(self, store => store.schedules().await)
    }

    /// Handles one tick: in one transaction, moves the schedule's `last_tick` to it if no
    /// host has (see [`Tick`]), and only then submits the job (marked with the schedule and
    /// the tick) or records why there is none.
    pub async fn fire(&self, tick: Tick) -> Result<Fired> {
        each!(self, store => store.fire(tick).await)
    }
}

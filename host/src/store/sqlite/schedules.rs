//! Schedules: their changes on the writer's connection (inside its group transaction), the
//! one statement that lets a tick through, and their reads.

use std::time::SystemTime;

use rusqlite::{Connection, params};

use super::SqliteStore;
use super::jobs::{insert, module_known};
use super::reads::decode;
use super::values::now;
use super::writer::Kind::Promised;
use crate::store::backend::Schedules;
use crate::store::changes::Changes;
use crate::store::rows::{self, micros};
use crate::store::{Fired, NewSchedule, Result, ScheduleChange, ScheduleRecord, Tick};

const CREATE: &str = include_str!("sql/schedule_create.sql");
const UPDATE: &str = include_str!("sql/schedule_update.sql");
const DELETE: &str = include_str!("sql/schedule_delete.sql");
const FIRE: &str = include_str!("sql/schedule_fire.sql");
const ERROR: &str = include_str!("sql/schedule_error.sql");
const MARK_JOB: &str = include_str!("sql/schedule_mark_job.sql");
const LAST_JOB: &str = include_str!("sql/schedule_last_job.sql");
const SCHEDULE: &str = include_str!("sql/schedule.sql");
const SCHEDULES: &str = include_str!("sql/schedules.sql");
const COUNT: &str = include_str!("sql/schedule_count.sql");

impl Schedules for SqliteStore {
    /// One host: its own clock.
    async fn now(&self) -> Result<SystemTime> {
        Ok(SystemTime::now())
    }

    async fn create_schedule(&self, schedule: NewSchedule) -> Result<Option<ScheduleRecord>> {
        self.write(Promised, move |db, changes, _| create(db, &schedule, changes)).await
    }

    async fn update_schedule(
        &self,
        name: String,
        change: ScheduleChange,
    ) -> Result<Option<ScheduleRecord>> {
        self.write(Promised, move |db, changes, _| update(db, &name, &change, changes)).await
    }

    async fn delete_schedule(&self, name: String) -> Result<bool> {
        self.write(Promised, move |db, changes, _| delete(db, &name, changes)).await
    }

    async fn fire(&self, tick: Tick) -> Result<Fired> {
        self.write(Promised, move |db, changes, _| fire(db, &tick, changes)).await
    }

    async fn schedule(&self, name: &str) -> Result<Option<ScheduleRecord>> {
        let name = name.to_string();
        self.reads.read(move |db| schedule(db, &name)).await
    }

    async fn schedule_count(&self) -> Result<u64> {
        self.reads.read(schedule_count).await
    }

    async fn schedules(&self) -> Result<Vec<ScheduleRecord>> {
        self.reads.read(schedules).await
    }
}

fn create(
    db: &Connection,
    schedule: &NewSchedule,
    changes: &mut Changes,
) -> Result<Option<ScheduleRecord>> {
    let mut statement = db.prepare_cached(CREATE)?;
    let params = params![
        schedule.name,
        schedule.cron,
        schedule.timezone,
        schedule.job,
        schedule.enabled,
        schedule.catch_up,
        now()
    ];
    let created = decode(&mut statement, params, |row| rows::schedule(row))?.into_iter().next();
    changes.schedules |= created.is_some();
    Ok(created)
}

fn update(
    db: &Connection,
    name: &str,
    change: &ScheduleChange,
    changes: &mut Changes,
) -> Result<Option<ScheduleRecord>> {
    let mut statement = db.prepare_cached(UPDATE)?;
    let params = params![
        name,
        change.cron,
        change.timezone,
        change.job,
        change.enabled,
        change.catch_up,
        now()
    ];
    let updated = decode(&mut statement, params, |row| rows::schedule(row))?.into_iter().next();
    changes.schedules |= updated.is_some();
    Ok(updated)
}

fn delete(db: &Connection, name: &str, changes: &mut Changes) -> Result<bool> {
    let deleted = db.prepare_cached(DELETE)?.execute([name])? > 0;
    changes.schedules |= deleted;
    Ok(deleted)
}

/// See [`crate::store::Store::fire`].
fn fire(db: &Connection, tick: &Tick, changes: &mut Changes) -> Result<Fired> {
    let at = now();
    let schedule = &tick.schedule;
    let error = tick.job.as_ref().err();
    let moved = db.prepare_cached(FIRE)?.execute(params![
        micros(tick.at),
        at,
        error,
        schedule.name,
        schedule.cron,
        schedule.timezone,
        schedule.job,
        tick.skipped as i64
    ])?;
    if moved == 0 {
        return Ok(Fired::Taken);
    }
    let job = match &tick.job {
        Ok(job) => job,
        Err(error) => return Ok(Fired::Failed(error.clone())),
    };
    // The module may have gone since the job was checked: record that instead.
    if !module_known(db, &job.module_hash)? {
        let error = format!("no module with hash {}", job.module_hash);
        db.prepare_cached(ERROR)?.execute(params![error, schedule.name])?;
        return Ok(Fired::Failed(error));
    }
    let (id, _) = insert(db, std::slice::from_ref(job), at, changes)?[0];
    db.prepare_cached(MARK_JOB)?.execute(params![schedule.name, micros(tick.at), id])?;
    db.prepare_cached(LAST_JOB)?.execute(params![id, schedule.name])?;
    Ok(Fired::Made(id))
}

/// Every schedule, by name.
fn schedules(db: &Connection) -> Result<Vec<ScheduleRecord>> {
    let mut statement = db.prepare_cached(SCHEDULES)?;
    decode(&mut statement, [], |row| rows::schedule(row))
}

/// How many schedules there are.
fn schedule_count(db: &Connection) -> Result<u64> {
    let count: i64 = db.prepare_cached(COUNT)?.query_row([], |row| row.get(0))?;
    Ok(count.max(0) as u64)
}

/// One schedule.
fn schedule(db: &Connection, name: &str) -> Result<Option<ScheduleRecord>> {
    let mut statement = db.prepare_cached(SCHEDULE)?;
    Ok(decode(&mut statement, [name], |row| rows::schedule(row))?.into_iter().next())
}

//! Schedule changes on the writer's connection (the writer calls these inside its group
//! transaction) and the one statement that lets a tick through.

use rusqlite::{Connection, params};

use super::reads::decode;
use super::writer::{Changes, insert, now};
use crate::store::rows::{self, micros};
use crate::store::{Fired, NewSchedule, Result, ScheduleChange, ScheduleRecord, Tick};

pub fn create(
    db: &Connection,
    schedule: &NewSchedule,
    changed: &mut Changes,
) -> Result<Option<ScheduleRecord>> {
    let at = now();
    let mut statement = db.prepare_cached(
        "INSERT INTO schedules (name, cron, timezone, job, enabled, catch_up, created_at,
             active_since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT (name) DO NOTHING
         RETURNING *",
    )?;
    let params = params![
        schedule.name,
        schedule.cron,
        schedule.timezone,
        schedule.job,
        schedule.enabled,
        schedule.catch_up,
        at
    ];
    let created = decode(&mut statement, params, |row| rows::schedule(row))?.into_iter().next();
    changed.schedules |= created.is_some();
    Ok(created)
}

pub fn update(
    db: &Connection,
    name: &str,
    change: &ScheduleChange,
    changed: &mut Changes,
) -> Result<Option<ScheduleRecord>> {
    // A new cron or time zone, or a resume, starts the schedule afresh: ticks before now
    // were not this schedule's (or it was paused), so none of them is made.
    let mut statement = db.prepare_cached(
        "UPDATE schedules SET
             active_since = CASE
                 WHEN coalesce(?2, cron) <> cron OR coalesce(?3, timezone) <> timezone
                      OR (coalesce(?5, enabled) AND NOT enabled) THEN ?7
                 ELSE active_since END,
             cron = coalesce(?2, cron), timezone = coalesce(?3, timezone), job = coalesce(?4, job),
             enabled = coalesce(?5, enabled), catch_up = coalesce(?6, catch_up)
         WHERE name = ?1
         RETURNING *",
    )?;
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
    changed.schedules |= updated.is_some();
    Ok(updated)
}

pub fn delete(db: &Connection, name: &str, changed: &mut Changes) -> Result<bool> {
    let deleted = db.prepare_cached("DELETE FROM schedules WHERE name = ?")?.execute([name])? > 0;
    changed.schedules |= deleted;
    Ok(deleted)
}

/// See [`crate::store::Store::fire`].
pub fn fire(db: &Connection, tick: &Tick, changed: &mut Changes) -> Result<Fired> {
    let at = now();
    let schedule = &tick.schedule;
    let error = tick.job.as_ref().err();
    let moved = db
        .prepare_cached(
            "UPDATE schedules SET last_tick = ?1, last_run_at = ?2, last_job_id = NULL,
                 last_error = ?3, ticks_skipped = ticks_skipped + ?8
             WHERE name = ?4 AND cron = ?5 AND timezone = ?6 AND job = ?7 AND enabled
               AND active_since < ?1 AND (last_tick IS NULL OR last_tick < ?1) AND ?1 <= ?2",
        )?
        .execute(params![
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
    if !db.prepare_cached("SELECT 1 FROM modules WHERE hash = ?")?.exists([&job.module_hash])? {
        let error = format!("no module with hash {}", job.module_hash);
        db.prepare_cached("UPDATE schedules SET last_error = ? WHERE name = ?")?
            .execute(params![error, schedule.name])?;
        return Ok(Fired::Failed(error));
    }
    let (id, _) = insert(db, std::slice::from_ref(job), at, changed)?[0];
    db.prepare_cached("UPDATE jobs SET schedule = ?, schedule_tick = ? WHERE id = ?")?
        .execute(params![schedule.name, micros(tick.at), id])?;
    db.prepare_cached("UPDATE schedules SET last_job_id = ? WHERE name = ?")?
        .execute(params![id, schedule.name])?;
    Ok(Fired::Made(id))
}

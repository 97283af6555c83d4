//! Schedules on PostgreSQL. Every host evaluates every schedule; `schedule_fire.sql` decides
//! which host makes each tick's job, in the transaction that inserts it.

use super::PgStore;
use super::jobs::insert;
use crate::store::backend::Schedules;
use crate::store::changes::Changes;
use crate::store::rows::{self, micros, time};
use crate::store::{Fired, NewSchedule, Result, ScheduleChange, ScheduleRecord, Tick};

const CREATE: &str = include_str!("sql/schedule_create.sql");
const UPDATE: &str = include_str!("sql/schedule_update.sql");
const FIRE: &str = include_str!("sql/schedule_fire.sql");
const DELETE: &str = include_str!("sql/schedule_delete.sql");
const SCHEDULE: &str = include_str!("sql/schedule.sql");
const SCHEDULES: &str = include_str!("sql/schedules.sql");
const COUNT: &str = include_str!("sql/schedule_count.sql");
const NOW: &str = include_str!("sql/now.sql");
const MODULE_KNOWN: &str = include_str!("sql/module_known.sql");
const ERROR: &str = include_str!("sql/schedule_error.sql");
const MARK_JOB: &str = include_str!("sql/schedule_mark_job.sql");

impl Schedules for PgStore {
    /// The database's clock.
    async fn now(&self) -> Result<std::time::SystemTime> {
        let now: i64 = sqlx::query_scalar(NOW).fetch_one(self.pool()).await?;
        Ok(time(now))
    }

    async fn create_schedule(&self, schedule: NewSchedule) -> Result<Option<ScheduleRecord>> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(CREATE)
            .bind(&schedule.name)
            .bind(&schedule.cron)
            .bind(&schedule.timezone)
            .bind(&schedule.job)
            .bind(schedule.enabled)
            .bind(schedule.catch_up)
            .fetch_optional(&mut *tx)
            .await?;
        let created = row.as_ref().map(rows::schedule).transpose()?;
        let changes = Changes { schedules: created.is_some(), ..Changes::default() };
        self.commit(tx, changes).await?;
        Ok(created)
    }

    async fn update_schedule(
        &self,
        name: String,
        change: ScheduleChange,
    ) -> Result<Option<ScheduleRecord>> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(UPDATE)
            .bind(&name)
            .bind(change.cron)
            .bind(change.timezone)
            .bind(change.job)
            .bind(change.enabled)
            .bind(change.catch_up)
            .fetch_optional(&mut *tx)
            .await?;
        let updated = row.as_ref().map(rows::schedule).transpose()?;
        let changes = Changes { schedules: updated.is_some(), ..Changes::default() };
        self.commit(tx, changes).await?;
        Ok(updated)
    }

    async fn delete_schedule(&self, name: String) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let deleted = sqlx::query(DELETE).bind(&name).execute(&mut *tx).await?.rows_affected() > 0;
        self.commit(tx, Changes { schedules: deleted, ..Changes::default() }).await?;
        Ok(deleted)
    }

    async fn schedule(&self, name: &str) -> Result<Option<ScheduleRecord>> {
        let row = sqlx::query(SCHEDULE).bind(name).fetch_optional(self.pool()).await?;
        row.as_ref().map(rows::schedule).transpose()
    }

    async fn schedule_count(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(COUNT).fetch_one(self.pool()).await?;
        Ok(count.max(0) as u64)
    }

    async fn schedules(&self) -> Result<Vec<ScheduleRecord>> {
        let found = sqlx::query(SCHEDULES).fetch_all(self.pool()).await?;
        found.iter().map(rows::schedule).collect()
    }

    async fn fire(&self, tick: Tick) -> Result<Fired> {
        let schedule = &tick.schedule;
        let mut tx = self.pool().begin().await?;
        let moved = sqlx::query(FIRE)
            .bind(micros(tick.at))
            .bind(&schedule.name)
            .bind(&schedule.cron)
            .bind(&schedule.timezone)
            .bind(&schedule.job)
            .bind(tick.job.as_ref().err().map(String::as_str))
            .bind(tick.skipped as i64)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if moved == 0 {
            return Ok(Fired::Taken);
        }
        let job = match &tick.job {
            Ok(job) => job,
            Err(error) => {
                tx.commit().await?;
                return Ok(Fired::Failed(error.clone()));
            }
        };
        // FOR SHARE: the module cannot be deleted while this job commits; if it went since
        // the job was checked, that is recorded instead.
        let known =
            sqlx::query(MODULE_KNOWN).bind(&job.module_hash).fetch_optional(&mut *tx).await?;
        if known.is_none() {
            let error = format!("no module with hash {}", job.module_hash);
            sqlx::query(ERROR).bind(&error).bind(&schedule.name).execute(&mut *tx).await?;
            tx.commit().await?;
            return Ok(Fired::Failed(error));
        }
        let mut changes = Changes::default();
        let (id, _) = insert(&mut tx, std::slice::from_ref(job), &mut changes).await?[0];
        sqlx::query(MARK_JOB)
            .bind(&schedule.name)
            .bind(micros(tick.at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.commit(tx, changes).await?;
        Ok(Fired::Made(id))
    }
}

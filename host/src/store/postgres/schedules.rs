//! Schedules on PostgreSQL. Every host evaluates every schedule; `schedule_fire.sql` decides
//! which host makes each tick's job, in the transaction that inserts it.

use super::{Changes, PgStore, insert};
use crate::store::rows::{self, micros, time};
use crate::store::{Fired, NewSchedule, Result, ScheduleChange, ScheduleRecord, Tick};

const CREATE: &str = include_str!("sql/schedule_create.sql");
const UPDATE: &str = include_str!("sql/schedule_update.sql");
const FIRE: &str = include_str!("sql/schedule_fire.sql");

impl PgStore {
    /// The database's clock.
    pub async fn now(&self) -> Result<std::time::SystemTime> {
        let now: i64 = sqlx::query_scalar("SELECT wasmpool_now()").fetch_one(self.pool()).await?;
        Ok(time(now))
    }

    pub async fn create_schedule(&self, schedule: NewSchedule) -> Result<Option<ScheduleRecord>> {
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

    pub async fn update_schedule(
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

    pub async fn delete_schedule(&self, name: String) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let deleted = sqlx::query("DELETE FROM schedules WHERE name = $1")
            .bind(&name)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        self.commit(tx, Changes { schedules: deleted, ..Changes::default() }).await?;
        Ok(deleted)
    }

    pub async fn schedule(&self, name: &str) -> Result<Option<ScheduleRecord>> {
        let row = sqlx::query("SELECT * FROM schedules WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(rows::schedule).transpose()
    }

    pub async fn schedule_count(&self) -> Result<u64> {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM schedules").fetch_one(self.pool()).await?;
        Ok(count.max(0) as u64)
    }

    pub async fn schedules(&self) -> Result<Vec<ScheduleRecord>> {
        let found =
            sqlx::query("SELECT * FROM schedules ORDER BY name").fetch_all(self.pool()).await?;
        found.iter().map(rows::schedule).collect()
    }

    pub async fn fire(&self, tick: Tick) -> Result<Fired> {
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
        let known = sqlx::query("SELECT 1 FROM modules WHERE hash = $1 FOR SHARE")
            .bind(&job.module_hash)
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            let error = format!("no module with hash {}", job.module_hash);
            sqlx::query("UPDATE schedules SET last_error = $1 WHERE name = $2")
                .bind(&error)
                .bind(&schedule.name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Fired::Failed(error));
        }
        let mut changes = Changes::default();
        let (id, _) = insert(&mut tx, std::slice::from_ref(job), &mut changes).await?[0];
        sqlx::query(
            "WITH marked AS (UPDATE jobs SET schedule = $1, schedule_tick = $2 WHERE id = $3)
             UPDATE schedules SET last_job_id = $3 WHERE name = $1",
        )
        .bind(&schedule.name)
        .bind(micros(tick.at))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        self.commit(tx, changes).await?;
        Ok(Fired::Made(id))
    }
}

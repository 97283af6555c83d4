//! Named rate limits on SQLite: definitions on the writer, the list on a reader.

use rusqlite::params;

use super::SqliteStore;
use super::values::now;
use super::writer::Kind::Promised;
use crate::store::Result;
use crate::store::backend::RateLimits;
use crate::store::limits::RateLimitRow;

const RATE_LIMIT_SET: &str = include_str!("sql/rate_limit_set.sql");
const RATE_LIMIT_DELETE: &str = include_str!("sql/rate_limit_delete.sql");
const RATE_LIMITS: &str = include_str!("sql/rate_limits.sql");
const RATE_LIMITS_KNOWN: &str = include_str!("sql/rate_limits_known.sql");

impl RateLimits for SqliteStore {
    async fn set_rate_limit(
        &self,
        stored: String,
        (per, window, burst): (i64, i64, i64),
    ) -> Result<()> {
        self.write(Promised, move |db, changes, _| {
            db.prepare_cached(RATE_LIMIT_SET)?.execute(params![
                stored,
                per,
                window,
                burst,
                now()
            ])?;
            // A changed limit may let jobs waiting on it start.
            changes.freed += 1;
            Ok(())
        })
        .await
    }

    async fn delete_rate_limit(&self, stored: String) -> Result<bool> {
        self.write(Promised, move |db, changes, _| {
            let deleted = db.prepare_cached(RATE_LIMIT_DELETE)?.execute([stored])? == 1;
            changes.freed += u64::from(deleted);
            Ok(deleted)
        })
        .await
    }

    async fn rate_limits(&self, tenant: &str) -> Result<Vec<RateLimitRow>> {
        let tenant = tenant.to_string();
        self.reads
            .read(move |db| {
                let rows = db
                    .prepare_cached(RATE_LIMITS)?
                    .query_map([tenant], |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                            row.get(5)?,
                            row.get(6)?,
                            row.get(7)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await
    }

    async fn rate_limits_known(&self, stored: Vec<String>) -> Result<Vec<String>> {
        let names = serde_json::to_string(&stored).expect("strings serialise");
        self.reads
            .read(move |db| {
                let known = db
                    .prepare_cached(RATE_LIMITS_KNOWN)?
                    .query_map([names], |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(known)
            })
            .await
    }
}

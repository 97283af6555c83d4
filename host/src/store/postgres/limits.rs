//! Named rate limits on PostgreSQL. A change is a committed row every host's next claim
//! reads (after its gate lock).

use super::PgStore;
use crate::store::Result;
use crate::store::backend::RateLimits;
use crate::store::changes::Changes;
use crate::store::limits::RateLimitRow;

const RATE_LIMIT_SET: &str = include_str!("sql/rate_limit_set.sql");
const RATE_LIMIT_DELETE: &str = include_str!("sql/rate_limit_delete.sql");
const RATE_LIMITS: &str = include_str!("sql/rate_limits.sql");
const RATE_LIMITS_KNOWN: &str = include_str!("sql/rate_limits_known.sql");

impl RateLimits for PgStore {
    async fn set_rate_limit(
        &self,
        stored: String,
        (per, window, burst): (i64, i64, i64),
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(RATE_LIMIT_SET)
            .bind(stored)
            .bind(per)
            .bind(window)
            .bind(burst)
            .execute(&mut *tx)
            .await?;
        // A changed limit may let jobs waiting on it start, on any host.
        self.commit(tx, Changes { freed: 1, ..Changes::default() }).await
    }

    async fn delete_rate_limit(&self, stored: String) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let deleted =
            sqlx::query(RATE_LIMIT_DELETE).bind(stored).execute(&mut *tx).await?.rows_affected();
        self.commit(tx, Changes { freed: deleted, ..Changes::default() }).await?;
        Ok(deleted == 1)
    }

    async fn rate_limits(&self, tenant: &str) -> Result<Vec<RateLimitRow>> {
        Ok(sqlx::query_as(RATE_LIMITS).bind(tenant).fetch_all(self.pool()).await?)
    }

    async fn rate_limits_known(&self, stored: Vec<String>) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(RATE_LIMITS_KNOWN).bind(stored).fetch_all(self.pool()).await?)
    }
}

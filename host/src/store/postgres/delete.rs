//! Bulk delete: every ended job a filter selects, with its attempt history, in one
//! transaction (as `cancel_matching` and `retry_matching` act on theirs).

use super::{PgStore, bind};
use crate::store::filter::{self, Dialect};
use crate::store::{Bulk, JobFilter, Result};
use crate::wire::JobState;

const DELETE: &str = include_str!("sql/delete.sql");

impl PgStore {
    /// Deletes the selected ended jobs, one statement per ended state the filter allows (so
    /// each deleted job's state is known). Nothing is announced to other hosts: no job changed state, and their lists
    /// read the table.
    pub async fn delete_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        let mut tx = self.pool().begin().await?;
        let clause = filter::clause(filter, Dialect::Postgres, 1);
        let count = format!("SELECT count(*) FROM jobs WHERE {}", clause.sql);
        let matched: i64 =
            bind(sqlx::query_scalar(&count), &clause.values).fetch_one(&mut *tx).await?;
        // $1 is the state; the filter's placeholders follow.
        let clause = filter::clause(filter, Dialect::Postgres, 2);
        let sql = DELETE.replace("{where}", &format!("state = $1 AND {}", clause.sql));
        let mut changed = Vec::new();
        for &state in JobState::DELETABLE
            .iter()
            .filter(|&&state| filter.state.is_none_or(|only| only == state))
        {
            let query = sqlx::query_scalar::<_, i64>(&sql).bind(state.as_str());
            let ids = bind(query, &clause.values).fetch_all(&mut *tx).await?;
            changed.extend(ids.into_iter().map(|id| (id, state)));
        }
        tx.commit().await?;
        self.forget_counts();
        Ok(Bulk { matched: (matched.max(0) as u64).max(changed.len() as u64), changed })
    }
}

//! Read-only queries, run on the read pool beside the writer.

use std::collections::BTreeMap;
use std::time::SystemTime;

use sqlx::SqlitePool;

use crate::store::rows::{self, JobBrief, JobRecord, ModuleRecord};
use crate::store::{JobFilter, JobId, Result};
use crate::wire::JobState;

/// Modules with their names as a JSON array.
pub(super) const MODULES: &str = "SELECT m.hash, m.kind, m.size, m.created_at,
        (SELECT json_group_array(n.name) FROM module_names n WHERE n.hash = m.hash) AS names
    FROM modules m";

pub async fn job(pool: &SqlitePool, id: JobId) -> Result<Option<JobRecord>> {
    let row = sqlx::query("SELECT * FROM jobs WHERE id = ?").bind(id).fetch_optional(pool).await?;
    row.as_ref().map(rows::job).transpose()
}

pub async fn jobs(pool: &SqlitePool, filter: &JobFilter) -> Result<Vec<JobRecord>> {
    let found = sqlx::query(
        "SELECT * FROM jobs
         WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR module_hash = ?2) AND (?3 IS NULL OR id < ?3)
         ORDER BY id DESC LIMIT ?4",
    )
    .bind(filter.state.map(JobState::as_str))
    .bind(filter.module_hash.as_deref())
    .bind(filter.before)
    .bind(filter.limit)
    .fetch_all(pool)
    .await?;
    found.iter().map(rows::job).collect()
}

pub async fn module(pool: &SqlitePool, hash_or_name: &str) -> Result<Option<ModuleRecord>> {
    let query = format!(
        "{MODULES} WHERE m.hash = ?1 OR m.hash = (SELECT hash FROM module_names WHERE name = ?1)"
    );
    let row = sqlx::query(&query).bind(hash_or_name).fetch_optional(pool).await?;
    row.as_ref().map(rows::module).transpose()
}

pub async fn modules(pool: &SqlitePool) -> Result<Vec<ModuleRecord>> {
    let query = format!("{MODULES} ORDER BY m.created_at DESC");
    let found = sqlx::query(&query).fetch_all(pool).await?;
    found.iter().map(rows::module).collect()
}

pub async fn counts(pool: &SqlitePool) -> Result<BTreeMap<JobState, u64>> {
    let found: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, count(*) FROM jobs GROUP BY state").fetch_all(pool).await?;
    let mut counts: BTreeMap<JobState, u64> = JobState::ALL.into_iter().map(|s| (s, 0)).collect();
    for (state, count) in found {
        if let Ok(state) = state.parse() {
            counts.insert(state, count.max(0) as u64);
        }
    }
    Ok(counts)
}

pub async fn next_due(pool: &SqlitePool) -> Result<Option<SystemTime>> {
    let due: Option<i64> = sqlx::query_scalar(
        "SELECT min(not_before) FROM jobs INDEXED BY jobs_due WHERE state = 'queued'",
    )
    .fetch_one(pool)
    .await?;
    Ok(due.map(rows::time))
}

pub async fn briefs(pool: &SqlitePool, ids: &[JobId]) -> Result<Vec<JobBrief>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(ids).expect("integers serialise");
    type Row = (JobId, Option<String>, String, Option<String>, i64, Option<i64>, Option<String>);
    let found: Vec<Row> = sqlx::query_as(
        "SELECT j.id, j.name, j.module_hash,
                (SELECT min(n.name) FROM module_names n WHERE n.hash = j.module_hash), j.timeout_ms,
                j.progress_percent, j.progress_message
         FROM jobs j WHERE j.id IN (SELECT value FROM json_each(?))",
    )
    .bind(list)
    .fetch_all(pool)
    .await?;
    Ok(found
        .into_iter()
        .map(|(id, name, module_hash, module_name, timeout_ms, percent, message)| JobBrief {
            id,
            name,
            module_hash,
            module_name,
            timeout_ms: timeout_ms.max(0) as u64,
            progress: rows::progress(percent, message),
        })
        .collect())
}

pub async fn queue_len(pool: &SqlitePool, name: &str) -> Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM queue_items WHERE queue = ?")
        .bind(name)
        .fetch_one(pool)
        .await?;
    Ok(n.max(0) as u64)
}

pub async fn queues(pool: &SqlitePool) -> Result<Vec<(String, u64)>> {
    let found: Vec<(String, i64)> =
        sqlx::query_as("SELECT queue, count(*) FROM queue_items GROUP BY queue ORDER BY queue")
            .fetch_all(pool)
            .await?;
    Ok(found.into_iter().map(|(name, n)| (name, n.max(0) as u64)).collect())
}

//! `/v1/stats`: what the dashboard's Modules and History views show, computed by the store
//! over the jobs it holds (not the hub's in-memory throughput, which starts at each restart).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::views::timestamp;
use super::{ApiError, ApiResult, AppState, tenancy};
use crate::store::{ModuleRecord, ModuleStats};
use crate::wire::{
    ErrorBody, HistoryBucket, HistoryView, LastFailureView, ModuleStatsList, ModuleStatsView,
};

/// Every stored module (newest upload first) with its runs, success rate, p50 and p95 run
/// times and latest failure; a module without ended runs has zeros and nulls.
#[utoipa::path(get, path = "/v1/stats/modules", responses((status = 200, body = ModuleStatsList)))]
pub async fn modules(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<ModuleStatsList>> {
    let (records, stats) = tokio::try_join!(tenancy::modules(&state, &caller), async {
        Ok(state.store.module_stats().await?)
    })?;
    let mut stats: HashMap<String, ModuleStats> =
        stats.into_iter().map(|s| (s.hash.clone(), s)).collect();
    let mut modules = Vec::with_capacity(records.len());
    for record in records {
        let mut stats = stats.remove(&record.hash);
        // A module whose bytes two tenants uploaded counts both's runs; its last failure is
        // shown only when it is the caller's job.
        let failed = stats.as_ref().and_then(|stats| stats.last_failure.as_ref()).map(|f| f.job_id);
        if let Some(id) = failed
            && tenancy::job(&state, &caller, id).await.is_err()
            && let Some(stats) = stats.as_mut()
        {
            stats.last_failure = None;
        }
        modules.push(module_view(&record, stats));
    }
    Ok(Json(ModuleStatsList { modules }))
}

fn module_view(record: &ModuleRecord, stats: Option<ModuleStats>) -> ModuleStatsView {
    let millis = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
    let stats = stats.unwrap_or(ModuleStats {
        hash: record.hash.clone(),
        runs: 0,
        succeeded: 0,
        failed: 0,
        p50: None,
        p95: None,
        last_failure: None,
    });
    ModuleStatsView {
        hash: record.hash.clone(),
        name: record.names.first().cloned(),
        runs: stats.runs,
        succeeded: stats.succeeded,
        failed: stats.failed,
        success_rate: (stats.runs > 0).then(|| stats.succeeded as f64 / stats.runs as f64),
        p50_ms: millis(stats.p50),
        p95_ms: millis(stats.p95),
        last_failure: stats.last_failure.map(|failure| LastFailureView {
            job_id: failure.job_id,
            error: failure.error,
            finished_at: timestamp(failure.finished_at),
        }),
        max_running: record.max_running,
    }
}

/// Query of the history.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// `1h` (default: 60 one-minute buckets) or `1d` (96 fifteen-minute buckets).
    #[param(pattern = "^(1h|1d)$")]
    window: Option<String>,
}

/// The buckets of each window: (width, how many).
fn window(name: &str) -> ApiResult<(Duration, u32)> {
    match name {
        "1h" => Ok((Duration::from_secs(60), 60)),
        "1d" => Ok((Duration::from_secs(15 * 60), 96)),
        other => Err(ApiError::bad_request(format!("window `{other}` must be `1h` or `1d`"))),
    }
}

/// Jobs ended (succeeded; failed or timed out) per minute over the last hour, or per 15
/// minutes over the last day, oldest bucket first, empty ones included.
#[utoipa::path(get, path = "/v1/stats/history", params(HistoryQuery),
    responses((status = 200, body = HistoryView), (status = 400, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> ApiResult<Json<HistoryView>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let name = query.window.unwrap_or_else(|| "1h".into());
    let (width, count) = window(&name)?;
    let from = first_bucket(SystemTime::now(), width, count);
    let buckets = state.store.history(from, width, count).await?;
    let buckets = buckets
        .into_iter()
        .map(|b| HistoryBucket {
            start: timestamp(b.start),
            succeeded: b.succeeded,
            failed: b.failed,
        })
        .collect();
    Ok(Json(HistoryView { window: name, bucket_seconds: width.as_secs(), buckets }))
}

/// Where the first of `count` buckets starts so that the last one holds `now` and every
/// bucket starts on a whole multiple of `width` (a minute starts at :00 seconds).
fn first_bucket(now: SystemTime, width: Duration, count: u32) -> SystemTime {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let width_secs = width.as_secs().max(1);
    let current = since - since % width_secs;
    UNIX_EPOCH + Duration::from_secs(current) - width * (count - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_bucket_holds_now_and_buckets_start_on_the_minute() {
        let now = UNIX_EPOCH + Duration::from_secs(3600 * 1000 + 125);
        let from = first_bucket(now, Duration::from_secs(60), 60);
        let from_secs = from.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(from_secs % 60, 0);
        let last = from + Duration::from_secs(59 * 60);
        assert!(last <= now && now < last + Duration::from_secs(60));
    }
}

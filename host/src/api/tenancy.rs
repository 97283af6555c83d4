//! What a caller may see of what the store holds: another tenant's job, module, schedule or
//! queue answers 404, exactly as one that does not exist (never 403: an id reveals nothing),
//! and a module's names are the caller's own, as it gave them.
//!
//! Jobs carry their tenant; modules have owners (the tenants that uploaded their bytes, which
//! are stored once); names of modules, schedules and queues are kept per tenant by storing
//! another tenant's as `TENANT:name` ([`Caller::stored_name`]).

use super::auth::Caller;
use super::{ApiError, ApiResult, AppState};
use crate::store::{JobId, JobRecord, ModuleRecord};

/// Whether `text` is a module's hash (64 hex digits) rather than a name.
fn is_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The caller's job `id` (404 when there is none, or it is another tenant's).
pub async fn job(state: &AppState, caller: &Caller, id: JobId) -> ApiResult<JobRecord> {
    match state.store.job(id).await? {
        Some(job) if caller.owns(&job.tenant) => Ok(job),
        _ => Err(ApiError::not_found(format!("no job {id}"))),
    }
}

/// The caller's module named by hash or by the caller's name for it, with only the caller's
/// names (`None` when it has none, or it is another tenant's).
pub async fn find_module(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<Option<ModuleRecord>> {
    if is_hash(id) {
        let hash = id.to_ascii_lowercase();
        let Some(module) = state.store.module(&hash).await? else { return Ok(None) };
        if !state.store.owns_module(&caller.tenant, &module.hash).await? {
            return Ok(None);
        }
        return Ok(Some(own_names(caller, module)));
    }
    // A name is found only in the caller's own names, so the module is its own.
    let module = state.store.module(&caller.stored_name(id)).await?;
    Ok(module.map(|module| own_names(caller, module)))
}

/// [`find_module`], 404 when there is none.
pub async fn module(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ModuleRecord> {
    find_module(state, caller, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no module `{id}`: upload it first")))
}

/// Every module the caller owns, newest first, with its own names.
pub async fn modules(state: &AppState, caller: &Caller) -> ApiResult<Vec<ModuleRecord>> {
    let owned: std::collections::HashSet<String> =
        state.store.owned_modules(&caller.tenant).await?.into_iter().collect();
    let modules = state.store.modules().await?;
    Ok(modules
        .into_iter()
        .filter(|module| owned.contains(&module.hash))
        .map(|module| own_names(caller, module))
        .collect())
}

/// The module with only the caller's names, as the caller gave them.
pub fn own_names(caller: &Caller, mut module: ModuleRecord) -> ModuleRecord {
    module.names =
        module.names.iter().filter_map(|name| caller.own_name(name).map(str::to_string)).collect();
    module
}

/// The tenants of the jobs the pool's busy workers run.
pub async fn worker_tenants(
    state: &AppState,
    pool: &crate::wire::PoolView,
) -> ApiResult<std::collections::HashMap<JobId, String>> {
    let busy: Vec<JobId> = pool.workers.iter().filter_map(|worker| worker.job_id).collect();
    if busy.is_empty() {
        return Ok(Default::default());
    }
    let briefs = state.store.briefs(&busy).await?;
    Ok(briefs.into_iter().map(|brief| (brief.id, brief.tenant)).collect())
}

/// The pool as the caller sees it: the workers are shared, so their states, the lanes and
/// the counts stay whole (they tell load, not whose), but a worker running another tenant's
/// job shows only that it is busy: no job id, name, module or progress.
pub fn own_pool(
    caller: &Caller,
    mut pool: crate::wire::PoolView,
    tenants: &std::collections::HashMap<JobId, String>,
) -> crate::wire::PoolView {
    for worker in &mut pool.workers {
        let Some(id) = worker.job_id else { continue };
        if tenants.get(&id).is_some_and(|tenant| caller.owns(tenant)) {
            worker.module_name =
                worker.module_name.as_deref().and_then(|n| caller.own_name(n)).map(str::to_string);
            continue;
        }
        worker.job_id = None;
        worker.since = None;
        worker.job_name = None;
        worker.module = None;
        worker.module_name = None;
        worker.timeout_ms = None;
        worker.progress = None;
    }
    pool
}

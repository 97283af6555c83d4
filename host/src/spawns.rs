//! Jobs that running jobs spawn (`wasmpool:task/workflow.spawn`): a fan-out from inside a job
//! whose width the job learns as it runs. Each is checked when the guest asks, as a
//! submission is (the JSON of `POST /v1/jobs`, the tenant's module, the call, lane, mounts,
//! the tenant's quotas, at most [`MAX_SPAWNED`] per attempt and one request's bytes in all),
//! and kept here under its attempt. When the attempt ends the dispatcher takes them
//! ([`Spawner::take`]): if it succeeded, they travel with its result and the store writes
//! them in the transaction that records it (`store/*/spawned.rs`), else they are dropped. So a failed or retried attempt
//! leaves no children, a retry does not submit them twice, and a stale host's late result
//! (fenced out) writes none.
//!
//! A spawn's handle is `spawned-N` (N from 0, in spawn order). A spawned job's `after` may
//! name only handles spawned before it in the same attempt; one that names none runs after
//! the spawner itself (already succeeded when it is written, so it is queued at once and may
//! read the spawner's result). A fan-in is a spawn whose `after` lists the handles.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wasmpool_protocol::validate::{self, ServiceLimits};
use wasmpool_protocol::workflow::{After, Parent};

use crate::mounts::Mounts;
use crate::scheduler::{check_call, tenant_module};
use crate::store::{Attempt, JobId, NewJob, Running, Store};
use crate::wire::JobRequest;

/// Most jobs one attempt may spawn.
pub const MAX_SPAWNED: usize = 1000;
/// How a spawn's handle starts.
const HANDLE: &str = "spawned-";
/// Attempts whose spawns are kept at most: past it (attempts that never ended through the
/// dispatcher) the oldest are forgotten.
const KEPT_ATTEMPTS: usize = 4096;

/// An attempt's spawns, with the bytes of their JSON.
type Kept = (Vec<NewJob>, usize);

/// The jobs spawned by running attempts, checked and waiting for their attempt's end.
pub struct Spawner {
    store: Store,
    limits: ServiceLimits,
    mounts: Arc<Mounts>,
    /// The lanes this host serves.
    lanes: Vec<String>,
    pending: Mutex<HashMap<(JobId, u32), Kept>>,
}

impl Spawner {
    /// Checks spawns against these limits, mounts and lanes (besides those the store knows
    /// other hosts serve).
    pub fn new(
        store: Store,
        limits: ServiceLimits,
        mounts: Arc<Mounts>,
        lanes: Vec<String>,
    ) -> Self {
        Spawner { store, limits, mounts, lanes, pending: Mutex::default() }
    }

    /// The workflow maximums the spawned jobs are written under.
    pub fn workflow_limits(&self) -> wasmpool_protocol::workflow::WorkflowLimits {
        self.limits.workflow
    }

    /// Checks `json` (a job of `tenant`, spawned by the attempt `by`) and keeps it: its
    /// handle, or why it was refused.
    pub async fn spawn(&self, by: Running, tenant: &str, json: &str) -> Result<String, String> {
        let most = MAX_SPAWNED.min(self.limits.workflow.max_jobs as usize);
        if self.count(by) >= most {
            return Err(format!("an attempt may spawn at most {most} jobs"));
        }
        let mut request: JobRequest = serde_json::from_str(json)
            .map_err(|e| format!("the job is not a valid submission: {e}"))?;
        let parents = self.handles(by, &std::mem::take(&mut request.after))?;
        // The validation sees the job as one with parents (`stdin_from_parents` needs them).
        request.after = vec![After::Job(by.id)];
        let Some(module) =
            tenant_module(&self.store, tenant, &request.module).await.map_err(unavailable)?
        else {
            return Err(format!("no module `{}`: upload it first", request.module));
        };
        let name = request.module.clone();
        let mut job =
            validate::new_job(request, module.hash, None, &self.limits).map_err(|e| e.0)?;
        job.tenant = tenant.to_string();
        job.after = parents;
        check_call(&name, module.exports.as_deref(), &mut job)?;
        self.check_lane(&job.lane).await?;
        if let Some(missing) = self.mounts.missing(&job.mounts) {
            return Err(missing);
        }
        let one = std::slice::from_mut(&mut job);
        crate::api::tenants::check_quotas(&self.store, &self.limits, tenant, one)
            .await
            .map_err(|e| e.message().to_string())?;
        self.keep(by, job, json.len(), most)
    }

    /// The jobs spawned by `attempt`, forgotten here: it ended.
    pub fn take(&self, attempt: Attempt) -> Vec<NewJob> {
        let mut pending = self.pending.lock().expect("spawns lock");
        pending.remove(&(attempt.id, attempt.number)).map(|(jobs, _)| jobs).unwrap_or_default()
    }

    fn count(&self, by: Running) -> usize {
        let pending = self.pending.lock().expect("spawns lock");
        pending.get(&(by.id, by.attempt)).map_or(0, |(jobs, _)| jobs.len())
    }

    fn keep(&self, by: Running, job: NewJob, size: usize, most: usize) -> Result<String, String> {
        let mut pending = self.pending.lock().expect("spawns lock");
        if pending.len() >= KEPT_ATTEMPTS && !pending.contains_key(&(by.id, by.attempt)) {
            let oldest = pending.keys().min().copied();
            oldest.map(|key| pending.remove(&key));
        }
        let (jobs, bytes) = pending.entry((by.id, by.attempt)).or_default();
        if jobs.len() >= most {
            return Err(format!("an attempt may spawn at most {most} jobs"));
        }
        // All of an attempt's spawns together are at most one request's size (what one
        // batch over HTTP may carry), so a guest cannot fill the service's memory.
        let most_bytes = self.limits.max_request_bytes;
        if *bytes + size > most_bytes {
            return Err(format!(
                "an attempt's spawned jobs may take at most {most_bytes} bytes of JSON together"
            ));
        }
        *bytes += size;
        jobs.push(job);
        Ok(format!("{HANDLE}{}", jobs.len() - 1))
    }

    /// A spawned job's parents: the handles its `after` names (spawned before it by the same
    /// attempt), or the spawner when it names none.
    fn handles(&self, by: Running, after: &[After]) -> Result<Vec<Parent>, String> {
        if after.is_empty() {
            return Ok(vec![Parent::Job(by.id)]);
        }
        let spawned = self.count(by);
        let mut parents = Vec::with_capacity(after.len());
        for entry in after {
            let index = match entry {
                After::Name(name) => name.strip_prefix(HANDLE).and_then(|n| n.parse().ok()),
                After::Job(_) => None,
            };
            match index {
                Some(index) if index < spawned => {
                    if !parents.contains(&Parent::Batch(index)) {
                        parents.push(Parent::Batch(index));
                    }
                }
                _ => {
                    return Err(format!(
                        "`after` may name only handles `spawn` returned earlier in this \
                         attempt (`{HANDLE}0` to `{HANDLE}{}`); got {}",
                        spawned.saturating_sub(1),
                        serde_json::to_string(entry).unwrap_or_default()
                    ));
                }
            }
        }
        Ok(parents)
    }

    async fn check_lane(&self, lane: &str) -> Result<(), String> {
        if self.lanes.iter().any(|name| name == lane) {
            return Ok(());
        }
        let served = self.store.lanes_served().await.map_err(unavailable)?;
        match served.iter().any(|name| name == lane) {
            true => Ok(()),
            false => Err(format!("no lane `{lane}`")),
        }
    }
}

fn unavailable(error: crate::store::StoreError) -> String {
    tracing::error!("checking a spawned job failed: {error}");
    "the service could not check the job now".to_string()
}

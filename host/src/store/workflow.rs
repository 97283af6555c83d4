//! Workflows in the store, the part both backends share: what a submission with `after`
//! becomes (each new job's first state, its count of parents not yet ended, the workflow it
//! joins), decided from the existing parents' states before anything is written, and the
//! records a workflow is read as. The release of children when a parent ends is each
//! backend's `children.sql`, run in the transaction that records the parent's end.

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use wasmpool_protocol::workflow::{Parent, WorkflowLimits, releases_children};

use super::backend::Workflows;
use super::{Bulk, Engine, JobFilter, JobId, JobState, NewJob, Result, Store, StoreError};
use wasmpool_protocol::workflow::ParentFailure;

/// An existing job a submission names as a parent, as the store read it (locked against
/// its end or deletion until the submission commits).
#[derive(Clone, Debug)]
pub struct ParentRow {
    /// Its state.
    pub state: JobState,
    /// Its workflow, if it has one.
    pub workflow: Option<i64>,
    /// Its name.
    pub name: Option<String>,
    /// Its error.
    pub error: Option<String>,
}

/// A new job's first state, as planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// `waiting`, `queued`, or (a parent had already failed) `cancelled` or `skipped`.
    pub state: JobState,
    /// Its parents not yet ended.
    pub waiting_on: i64,
    /// Why it ended at once (a parent had failed).
    pub error: Option<String>,
}

/// What a submission with `after` writes.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The existing workflow it joins, `None` for a new one.
    pub workflow: Option<i64>,
    /// Existing parents without a workflow, which join it.
    pub adopted: Vec<JobId>,
    /// Each new job's first state, in submission order.
    pub jobs: Vec<Planned>,
    /// New edges, `(parent, child)` as batch indices or existing ids.
    pub edges: Vec<(Parent, usize)>,
}

/// Whether a submission needs the workflow path: some job runs after another.
pub fn has_edges(jobs: &[NewJob]) -> bool {
    jobs.iter().any(|job| !job.after.is_empty())
}

/// The existing ids a submission names as parents, sorted (the order rows are locked in).
pub fn existing_parents(jobs: &[NewJob]) -> Vec<JobId> {
    let ids: BTreeSet<JobId> = jobs
        .iter()
        .flat_map(|job| &job.after)
        .filter_map(|parent| match parent {
            Parent::Job(id) => Some(*id),
            Parent::Batch(_) => None,
        })
        .collect();
    ids.into_iter().collect()
}

/// The message a job ended by a parent's failure carries: the parent that failed, or, when
/// that parent was itself ended by one of its own, the first failure up the graph (so a
/// chain cancelled from its first link names that link at every level, in constant size).
pub fn parent_failed(id: JobId, parent: &ParentRow) -> String {
    if let Some(error) = &parent.error
        && error.starts_with(FAILED_PREFIX)
        && matches!(parent.state, JobState::Cancelled | JobState::Skipped)
    {
        return error.clone();
    }
    let name = parent.name.as_ref().map(|name| format!(" (`{name}`)")).unwrap_or_default();
    let how = match parent.state {
        JobState::TimedOut => "timed out",
        JobState::Cancelled => "was cancelled",
        _ => "failed",
    };
    format!("{FAILED_PREFIX}{id}{name} {how}")
}

/// How every message of [`parent_failed`] starts (the SQL of both backends writes the same).
pub const FAILED_PREFIX: &str = "parent job ";

/// Plans a submission with `after` from its existing parents (`found`, by id): refuses an
/// unknown parent, parents of two workflows, and a workflow past `limits` (`counted`: the
/// jobs and edges the joined workflow already has).
pub fn plan(
    jobs: &[NewJob],
    found: &HashMap<JobId, ParentRow>,
    counted: impl FnOnce(i64) -> Result<(u64, u64)>,
    limits: WorkflowLimits,
) -> Result<Plan> {
    if let Some(missing) = existing_parents(jobs).into_iter().find(|id| !found.contains_key(id)) {
        return Err(StoreError::Graph(format!(
            "no job {missing} to run after (unknown or deleted)"
        )));
    }
    let workflows: BTreeSet<i64> = found.values().filter_map(|p| p.workflow).collect();
    if workflows.len() > 1 {
        let list: Vec<String> = workflows.iter().map(i64::to_string).collect();
        return Err(StoreError::Graph(format!(
            "the parents belong to different workflows ({}); a job runs after jobs of one",
            list.join(", ")
        )));
    }
    let workflow = workflows.into_iter().next();
    let adopted: Vec<JobId> =
        found.iter().filter(|(_, p)| p.workflow.is_none()).map(|(id, _)| *id).collect();
    let edges: Vec<(Parent, usize)> = jobs
        .iter()
        .enumerate()
        .flat_map(|(child, job)| job.after.iter().map(move |parent| (*parent, child)))
        .collect();
    let (had_jobs, had_edges) = match workflow {
        Some(id) => counted(id)?,
        None => (adopted.len() as u64, 0),
    };
    let total_jobs = had_jobs + jobs.len() as u64;
    if total_jobs > limits.max_jobs {
        return Err(StoreError::Graph(format!(
            "the workflow would have {total_jobs} jobs; at most {} are allowed",
            limits.max_jobs
        )));
    }
    let total_edges = had_edges + edges.len() as u64;
    if total_edges > limits.max_edges {
        return Err(StoreError::Graph(format!(
            "the workflow would have {total_edges} edges; at most {} are allowed",
            limits.max_edges
        )));
    }
    Ok(Plan { workflow, adopted, jobs: first_states(jobs, found)?, edges })
}

/// Each new job's first state, its parents in the batch decided before it.
fn first_states(jobs: &[NewJob], found: &HashMap<JobId, ParentRow>) -> Result<Vec<Planned>> {
    let mut planned: Vec<Option<Planned>> = vec![None; jobs.len()];
    for index in batch_order(jobs)? {
        let job = &jobs[index];
        let mut waiting_on = 0;
        let mut failure = None;
        for parent in &job.after {
            let (state, failed) = match parent {
                Parent::Job(id) => {
                    let row = &found[id];
                    (row.state, failure.is_none().then(|| parent_failed(*id, row)))
                }
                Parent::Batch(i) => {
                    let row = planned[*i].as_ref().expect("parents are planned first");
                    (row.state, row.error.clone())
                }
            };
            if !state.is_terminal() {
                waiting_on += 1;
            } else if !releases_children(state) && failure.is_none() {
                failure = failed;
            }
        }
        let state = match (failure.is_some(), job.on_parent_failure) {
            (true, ParentFailure::Cancel) => JobState::Cancelled,
            (true, ParentFailure::Skip) => JobState::Skipped,
            _ if waiting_on > 0 => JobState::Waiting,
            _ => JobState::Queued,
        };
        let error = if state.is_terminal() { failure } else { None };
        planned[index] = Some(Planned { state, waiting_on, error });
    }
    Ok(planned.into_iter().map(|p| p.expect("every job planned")).collect())
}

/// The batch's jobs in an order where each comes after its parents in the batch (Kahn's);
/// a cycle (the API refuses those first) is refused here too.
fn batch_order(jobs: &[NewJob]) -> Result<Vec<usize>> {
    let mut pending: Vec<usize> = vec![0; jobs.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); jobs.len()];
    for (child, job) in jobs.iter().enumerate() {
        for parent in &job.after {
            if let Parent::Batch(parent) = parent {
                let parent = *parent;
                if parent >= jobs.len() {
                    return Err(StoreError::Graph(format!("no job {parent} in the batch")));
                }
                pending[child] += 1;
                children[parent].push(child);
            }
        }
    }
    let mut ready: Vec<usize> = (0..jobs.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(jobs.len());
    while let Some(next) = ready.pop() {
        order.push(next);
        for &child in &children[next] {
            pending[child] -= 1;
            if pending[child] == 0 {
                ready.push(child);
            }
        }
    }
    if order.len() < jobs.len() {
        return Err(StoreError::Graph("the jobs' `after` form a cycle".into()));
    }
    Ok(order)
}

/// A parent's result, as a child that asked for it reads it on its stdin.
#[derive(Clone, Debug)]
pub struct ParentResult {
    /// Id.
    pub id: JobId,
    /// Name.
    pub name: Option<String>,
    /// How it ended.
    pub state: JobState,
    /// Its exit code.
    pub exit_code: Option<i64>,
    /// Its captured stdout.
    pub stdout: Vec<u8>,
    /// What its call returned (JSON).
    pub result: Option<String>,
}

/// The stdin of a job that asked for its parents' results: a JSON object keyed by parent
/// name (its id for a parent without one), each `{"id", "state", "exit_code", "stdout"`
/// (text, or `"stdout_base64"` when it is not UTF-8), `"result"}`.
pub fn parents_stdin(parents: Vec<ParentResult>) -> Vec<u8> {
    use base64::Engine;
    let mut object = serde_json::Map::new();
    for parent in parents {
        let mut entry = serde_json::json!({
            "id": parent.id,
            "state": parent.state.as_str(),
            "exit_code": parent.exit_code,
            "result": parent.result.and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok()),
        });
        match String::from_utf8(parent.stdout) {
            Ok(text) => entry["stdout"] = text.into(),
            Err(bytes) => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(bytes.as_bytes());
                entry["stdout_base64"] = encoded.into();
            }
        }
        object.insert(parent.name.unwrap_or_else(|| parent.id.to_string()), entry);
    }
    serde_json::Value::Object(object).to_string().into_bytes()
}

/// The parameters of a call that takes its parents' results (`params_from_parents`): a JSON
/// array, one value per id of `order` (its `after`, as the submission gave it): a parent's
/// call `result`, or, for a command, its stdout as a string (lossy UTF-8). The call's types
/// are checked against them when it runs.
pub fn parents_params(order: &str, parents: &[ParentResult]) -> String {
    let order: Vec<JobId> = serde_json::from_str(order).unwrap_or_default();
    let values: Vec<serde_json::Value> = order
        .iter()
        .map(|id| match parents.iter().find(|parent| parent.id == *id) {
            Some(ParentResult { result: Some(json), .. }) => {
                serde_json::from_str(json).unwrap_or(serde_json::Value::Null)
            }
            Some(parent) => String::from_utf8_lossy(&parent.stdout).into_owned().into(),
            None => serde_json::Value::Null,
        })
        .collect();
    serde_json::Value::Array(values).to_string()
}

/// The ids of a new job's parents in its `after` order, as JSON (`params_from_parents`);
/// `accepted` are the ids the job's batch was given.
pub fn parent_order(job: &NewJob, accepted: &[(JobId, JobState)]) -> String {
    let ids: Vec<JobId> = job
        .after
        .iter()
        .map(|parent| match parent {
            Parent::Job(id) => *id,
            Parent::Batch(index) => accepted[*index].0,
        })
        .collect();
    serde_json::to_string(&ids).expect("integers serialise")
}

/// A parent's result as a running job reads it through `wasmpool:task/workflow.parents`.
pub fn task_parent(parent: ParentResult) -> crate::job::ParentResult {
    crate::job::ParentResult {
        id: parent.id,
        name: parent.name,
        state: parent.state.as_str().to_string(),
        exit_code: parent.exit_code.and_then(|code| i32::try_from(code).ok()),
        stdout: parent.stdout,
        result: parent.result,
    }
}

/// A workflow as stored: its jobs (in id order) and edges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowRecord {
    /// Its id.
    pub id: i64,
    /// When it was made.
    pub created_at: SystemTime,
    /// Its jobs.
    pub jobs: Vec<WorkflowJobRecord>,
    /// Its edges, `(parent, child)`.
    pub edges: Vec<(JobId, JobId)>,
}

/// A job of a workflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowJobRecord {
    /// Id.
    pub id: JobId,
    /// Name.
    pub name: Option<String>,
    /// State.
    pub state: JobState,
    /// What it does when a parent fails.
    pub on_parent_failure: ParentFailure,
    /// Why it did not succeed.
    pub error: Option<String>,
}

/// A workflow in a listing: its jobs counted by state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowBrief {
    /// Its id.
    pub id: i64,
    /// When it was made.
    pub created_at: SystemTime,
    /// Its jobs by state.
    pub counts: std::collections::BTreeMap<JobState, u64>,
}

/// The on_parent_failure column as stored (`NULL` outside a workflow reads as the default).
pub fn mode(text: Option<&str>) -> ParentFailure {
    text.and_then(|text| text.parse().ok()).unwrap_or_default()
}

impl Store {
    /// Accepts a submission whose jobs run after others (existing jobs, or jobs of the same
    /// submission): one transaction writes the workflow (a new one, or the one its existing
    /// parents belong to), the jobs (`waiting` while a parent has not ended) and the edges.
    /// Refused whole ([`StoreError::Graph`]) for an unknown or deleted parent, parents of two
    /// workflows, or a workflow past `limits`.
    pub async fn submit_workflow(
        &self,
        jobs: Vec<NewJob>,
        limits: WorkflowLimits,
    ) -> Result<Vec<(JobId, JobState)>> {
        each!(self, store => store.submit_workflow(jobs, limits).await)
    }

    /// Runs a workflow's jobs that did not succeed again: each waits again on its parents
    /// that did not succeed, or is queued. Answers the jobs changed with the state they left,
    /// `None` if there is no such workflow.
    pub async fn retry_workflow(&self, id: i64) -> Result<Option<Vec<(JobId, JobState)>>> {
        each!(self, store => store.retry_workflow(id).await)
    }

    /// Cancels every job of a workflow that has not ended (a bulk cancel of its jobs).
    pub async fn cancel_workflow(&self, id: i64) -> Result<Bulk> {
        self.cancel_matching(&JobFilter { workflow: Some(id), ..JobFilter::default() }).await
    }

    /// The results of job `id`'s parents (the jobs it runs after), in id order.
    pub async fn parent_results(&self, id: JobId) -> Result<Vec<ParentResult>> {
        each!(self, store => store.parent_results(id).await)
    }

    /// A workflow: its jobs and edges.
    pub async fn workflow(&self, id: i64) -> Result<Option<WorkflowRecord>> {
        each!(self, store => store.workflow(id).await)
    }

    /// A page of `tenant`'s workflows, newest first, older than `before` when given.
    pub async fn workflows(
        &self,
        limit: u32,
        before: Option<i64>,
        tenant: &str,
    ) -> Result<Vec<WorkflowBrief>> {
        each!(self, store => store.workflows(limit, before, tenant).await)
    }
}

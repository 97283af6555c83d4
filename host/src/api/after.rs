//! A submission's `after`: names resolved within the submission and the graph checked,
//! parents that are the submitter's own jobs, and jobs with edges stored as a workflow.

use wasmpool_protocol::workflow::{self, Node, Parent};

use super::{ApiError, ApiResult, AppState};
use crate::job::JobState;
use crate::store::{JobId, NewJob};

/// Resolves the jobs' `after` (names within the submission) and checks their graph.
pub(super) fn resolve_after(nodes: &[Node<'_>], state: &AppState) -> ApiResult<Vec<Vec<Parent>>> {
    Ok(workflow::resolve(nodes, state.limits.workflow)?)
}

/// Stores jobs: as a workflow when one runs after another.
pub(super) async fn submit_jobs(
    state: &AppState,
    jobs: Vec<NewJob>,
) -> ApiResult<Vec<(JobId, JobState)>> {
    if crate::store::workflow::has_edges(&jobs) {
        own_parents(state, &jobs).await?;
        Ok(state.store.submit_workflow(jobs, state.limits.workflow).await?)
    } else {
        Ok(state.store.submit(jobs).await?)
    }
}

/// Refuses a parent that is another tenant's job as the store refuses one that does not
/// exist (400, the same words: an id reveals nothing). One read for all the parents named by
/// id; one that is missing is the store's to refuse, naming it, with nothing written.
async fn own_parents(state: &AppState, jobs: &[NewJob]) -> ApiResult<()> {
    let mut ids: Vec<JobId> = jobs
        .iter()
        .flat_map(|job| job.after.iter())
        .filter_map(|parent| match *parent {
            Parent::Job(id) => Some(id),
            Parent::Batch(_) => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    // Every job of one submission is the submitter's tenant's.
    let tenant = &jobs[0].tenant;
    let parents = state.store.jobs_by_id(&ids).await?;
    match parents.iter().find(|parent| &parent.tenant != tenant) {
        Some(other) => Err(ApiError::bad_request(format!(
            "no job {} to run after (unknown or deleted)",
            other.id
        ))),
        None => Ok(()),
    }
}

//! A submission's `after`: names resolved within the submission and the graph checked,
//! parents that are the submitter's own jobs, and jobs with edges stored as a workflow.

use std::collections::HashSet;

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
/// exist (400, the same words: an id reveals nothing).
async fn own_parents(state: &AppState, jobs: &[NewJob]) -> ApiResult<()> {
    let mut checked = HashSet::new();
    for job in jobs {
        for parent in &job.after {
            let Parent::Job(id) = *parent else { continue };
            if !checked.insert(id) {
                continue;
            }
            match state.store.job(id).await? {
                Some(found) if found.tenant == job.tenant => {}
                Some(_) => {
                    let unknown = format!("no job {id} to run after (unknown or deleted)");
                    return Err(ApiError::bad_request(unknown));
                }
                None => {} // the store refuses it, naming it, with nothing written
            }
        }
    }
    Ok(())
}

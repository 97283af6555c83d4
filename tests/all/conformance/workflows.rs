//! The store's side of workflows (issue 22), on both backends: a child is released by its
//! last parent's recorded end, in that transaction; a failed parent cancels its child; a
//! stale attempt's result releases nothing; a refused graph writes nothing; a job a child
//! waits on is not deleted.

use wasmpool::job::JobState;
use wasmpool::store::{Attempt, Change, NewJob, Store, StoreError};
use wasmpool_protocol::workflow::{Parent, ParentFailure, WorkflowLimits};

use super::{claim, ended, job, postgres, sqlite, state, succeeded, with_module};

conformance!(
    the_last_parents_end_releases_the_child_in_its_transaction,
    a_stale_attempts_result_releases_nothing,
    a_refused_graph_writes_nothing,
);

fn after(parents: &[Parent]) -> NewJob {
    NewJob { after: parents.to_vec(), ..job() }
}

async fn the_last_parents_end_releases_the_child_in_its_transaction(store: &Store) {
    with_module(store).await;
    let mut skip = after(&[Parent::Batch(0)]);
    skip.on_parent_failure = ParentFailure::Skip;
    let jobs = vec![job(), job(), after(&[Parent::Batch(0), Parent::Batch(1)]), skip];
    let ids = store.submit_workflow(jobs, WorkflowLimits::default()).await.unwrap();
    let states: Vec<JobState> = ids.iter().map(|(_, state)| *state).collect();
    use JobState::{Queued, Waiting};
    assert_eq!(states, [Queued, Queued, Waiting, Waiting]);
    let parents = claim(store, 2).await;
    let first = parents.iter().find(|job| job.id == ids[0].0).unwrap();
    let second = parents.iter().find(|job| job.id == ids[1].0).unwrap();
    store.finish_and_claim(Vec::new(), vec![succeeded(first, "")], "default", 0).await.unwrap();
    assert_eq!(state(store, ids[2].0).await.state, Waiting, "one parent is still running");
    assert_eq!(state(store, ids[3].0).await.state, Queued, "its only parent succeeded");
    let failed = ended(second, JobState::Failed, 5, std::time::SystemTime::now());
    store.finish_and_claim(Vec::new(), vec![failed], "default", 0).await.unwrap();
    let child = state(store, ids[2].0).await;
    let why = format!("parent job {} failed", ids[1].0);
    assert_eq!((child.state, child.error.as_deref()), (JobState::Cancelled, Some(&*why)));
    assert_eq!(child.workflow, state(store, ids[0].0).await.workflow);
    let workflow = store.workflow(child.workflow.unwrap()).await.unwrap().unwrap();
    assert_eq!(workflow.edges.len(), 3);
    // A parent a child has not ended after is kept; once it ended, the parent may go.
    assert_eq!(store.delete_job(ids[0].0).await.unwrap(), Change::WaitedOn(ids[3].0));
    store.cancel(ids[3].0).await.unwrap();
    assert_eq!(store.delete_job(ids[0].0).await.unwrap(), Change::Done);
}

async fn a_stale_attempts_result_releases_nothing(store: &Store) {
    with_module(store).await;
    let jobs = vec![job(), after(&[Parent::Batch(0)])];
    let ids = store.submit_workflow(jobs, WorkflowLimits::default()).await.unwrap();
    let parent = claim(store, 1).await.remove(0);
    let mut stale = succeeded(&parent, "");
    stale.attempt = Attempt { number: parent.attempts + 1, ..parent.attempt() };
    store.finish_and_claim(Vec::new(), vec![stale], "default", 0).await.unwrap();
    assert_eq!(state(store, ids[1].0).await.state, JobState::Waiting);
    store.finish_and_claim(Vec::new(), vec![succeeded(&parent, "")], "default", 0).await.unwrap();
    assert_eq!(state(store, ids[1].0).await.state, JobState::Queued);
}

async fn a_refused_graph_writes_nothing(store: &Store) {
    with_module(store).await;
    let unknown = vec![job(), after(&[Parent::Job(987_654)])];
    let refused = store.submit_workflow(unknown, WorkflowLimits::default()).await.unwrap_err();
    assert!(matches!(&refused, StoreError::Graph(m) if m.contains("987654")), "{refused}");
    let tight = WorkflowLimits { max_jobs: 2, max_edges: 10 };
    let jobs = vec![job(), after(&[Parent::Batch(0)]), after(&[Parent::Batch(0)])];
    assert!(matches!(store.submit_workflow(jobs, tight).await, Err(StoreError::Graph(_))));
    assert!(claim(store, 10).await.is_empty(), "nothing of a refused graph was written");
    assert!(store.workflows(10, None, "default").await.unwrap().is_empty());
}

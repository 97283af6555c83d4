//! The store's side of jobs spawned from inside a job and of parameters from parents, on both
//! backends: spawned jobs are written with the spawner's fenced result and only when it
//! succeeded (a retried attempt's or a stale attempt's are not), joining a workflow with the
//! spawner as their parent; spawns the store refuses then end the spawner failed and write
//! nothing; a call's parameters are its parents' results in `after` order, written when it is
//! queued.

use std::time::SystemTime;

use wasmpool::job::JobState;
use wasmpool::store::{Attempt, Finished, NewJob, Spawned, Store};
use wasmpool_protocol::workflow::{Parent, WorkflowLimits};

use super::{claim, job, postgres, sqlite, state, succeeded, with_module};

conformance!(
    spawned_jobs_are_written_with_a_success_only,
    spawns_the_store_refuses_fail_their_spawner,
    a_calls_parameters_are_its_parents_results_in_after_order,
);

fn spawning(end: Finished, jobs: Vec<NewJob>) -> Finished {
    let limits = WorkflowLimits::default();
    Finished { spawned: Some(Box::new(Spawned { jobs, limits })), ..end }
}

/// A root (runs after the spawner) and a fan-in after it.
fn chord(spawner: i64) -> Vec<NewJob> {
    let root = NewJob { after: vec![Parent::Job(spawner)], ..job() };
    let fan_in = NewJob { name: Some("sum".into()), after: vec![Parent::Batch(0)], ..job() };
    vec![root, fan_in]
}

async fn job_count(store: &Store) -> usize {
    let filter = wasmpool::store::JobFilter { limit: 100, ..Default::default() };
    store.jobs(&filter).await.unwrap().len()
}

async fn spawned_jobs_are_written_with_a_success_only(store: &Store) {
    with_module(store).await;
    let id = store.submit(vec![NewJob { max_attempts: 2, ..job() }]).await.unwrap()[0].0;
    let first = claim(store, 1).await.remove(0);
    let retried = Finished {
        retry_at: Some(SystemTime::now()),
        state: JobState::Failed,
        error: Some("boom".into()),
        ..succeeded(&first, "")
    };
    store
        .finish_and_claim(Vec::new(), vec![spawning(retried, chord(id))], "default", 0)
        .await
        .unwrap();
    assert_eq!(job_count(store).await, 1, "a retried attempt spawns nothing");
    let second = claim(store, 1).await.remove(0);
    let mut stale = spawning(succeeded(&second, ""), chord(id));
    stale.attempt = Attempt { number: second.attempts + 1, ..second.attempt() };
    store.finish_and_claim(Vec::new(), vec![stale], "default", 0).await.unwrap();
    assert_eq!(job_count(store).await, 1, "a stale result spawns nothing");
    let done = spawning(succeeded(&second, ""), chord(id));
    store.finish_and_claim(Vec::new(), vec![done], "default", 0).await.unwrap();
    let parent = state(store, id).await;
    assert_eq!(parent.state, JobState::Succeeded);
    let workflow = store.workflow(parent.workflow.expect("a workflow")).await.unwrap().unwrap();
    let states: Vec<JobState> = workflow.jobs.iter().map(|job| job.state).collect();
    assert_eq!(states, [JobState::Succeeded, JobState::Queued, JobState::Waiting]);
    let (root, fan_in) = (workflow.jobs[1].id, workflow.jobs[2].id);
    assert_eq!(workflow.edges, [(id, root), (root, fan_in)]);
    assert_eq!(state(store, fan_in).await.tenant, parent.tenant);
}

async fn spawns_the_store_refuses_fail_their_spawner(store: &Store) {
    with_module(store).await;
    let id = store.submit(vec![job()]).await.unwrap()[0].0;
    let running = claim(store, 1).await.remove(0);
    let unknown = NewJob { module_hash: "ef".repeat(32), after: vec![Parent::Job(id)], ..job() };
    let end = spawning(succeeded(&running, ""), vec![unknown]);
    store.finish_and_claim(Vec::new(), vec![end], "default", 0).await.unwrap();
    let parent = state(store, id).await;
    assert_eq!(parent.state, JobState::Failed);
    let error = parent.error.unwrap_or_default();
    assert!(error.starts_with("the jobs it spawned could not be submitted"), "{error}");
    assert!(parent.workflow.is_none(), "nothing of the spawn was written");
    assert_eq!(job_count(store).await, 1);
    let history = store.attempts(&[id]).await.unwrap().remove(&id).unwrap();
    assert_eq!(history[0].state, JobState::Failed);
}

async fn a_calls_parameters_are_its_parents_results_in_after_order(store: &Store) {
    with_module(store).await;
    let call = NewJob {
        call: Some("divide".into()),
        params_from_parents: true,
        after: vec![Parent::Batch(1), Parent::Batch(0)],
        ..job()
    };
    let ids = store.submit_workflow(vec![job(), job(), call], WorkflowLimits::default());
    let ids: Vec<i64> = ids.await.unwrap().iter().map(|(id, _)| *id).collect();
    let parents = claim(store, 2).await;
    let ends: Vec<Finished> = parents
        .iter()
        .map(|parent| match parent.id == ids[0] {
            true => Finished { result: Some("{\"ok\":5}".into()), ..succeeded(parent, "") },
            false => succeeded(parent, "twelve\n"),
        })
        .collect();
    store.finish_and_claim(Vec::new(), ends, "default", 0).await.unwrap();
    let child = state(store, ids[2]).await;
    assert_eq!(child.state, JobState::Queued);
    assert_eq!(child.params.as_deref(), Some(r#"["twelve\n",{"ok":5}]"#));
}

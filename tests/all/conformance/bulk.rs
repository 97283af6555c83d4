//! The store's side of issue 14's bulk actions, on both backends: the list's filters, bulk
//! cancel and retry, and the history of ended attempts.

use std::time::SystemTime;

use wasmpool::job::JobState;
use wasmpool::job::ModuleKind;
use wasmpool::store::{Attempt, Cancel, Finished, JobFilter, NewJob, Store};

use super::{HASH, claim, job, postgres, sqlite, state, succeeded, with_module};

conformance!(
    list_filters_select_by_every_field,
    bulk_actions_change_only_the_jobs_they_apply_to,
    every_ended_current_attempt_is_kept_and_goes_with_its_job,
    bulk_delete_removes_only_ended_jobs_with_their_histories,
);

const OTHER: &str = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

async fn with_two_modules(store: &Store) {
    with_module(store).await;
    store.put_module(OTHER.into(), ModuleKind::Module, b"\0asm", None).await.unwrap();
}

fn named(name: &str, module: &str) -> NewJob {
    NewJob { name: Some(name.into()), module_hash: module.into(), ..job() }
}

/// The ids of the jobs the filter lists, newest first.
async fn ids(store: &Store, filter: JobFilter) -> Vec<i64> {
    let filter = JobFilter { limit: 100, ..filter };
    store.jobs(&filter).await.unwrap().iter().map(|job| job.id).collect()
}

async fn list_filters_select_by_every_field(store: &Store) {
    with_two_modules(store).await;
    let first = store.submit(vec![named("nightly-report", HASH), named("hourly", OTHER)]);
    let first: Vec<i64> = first.await.unwrap().iter().map(|(id, _)| *id).collect();
    let later = store.submit(vec![named("Nightly", HASH), job()]).await.unwrap();
    let later: Vec<i64> = later.iter().map(|(id, _)| *id).collect();
    let split = state(store, later[0]).await.submitted_at;
    let running = claim(store, 1).await.remove(0).id;
    assert_eq!(running, first[0]);

    let all = ids(store, JobFilter::default()).await;
    assert_eq!(all, [later[1], later[0], first[1], first[0]], "newest first");
    let by = |filter: JobFilter| ids(store, filter);
    assert_eq!(
        by(JobFilter { state: Some(JobState::Running), ..Default::default() }).await,
        [running]
    );
    let other = JobFilter { module_hash: Some(OTHER.into()), ..Default::default() };
    assert_eq!(by(other).await, [first[1]]);
    assert_eq!(by(JobFilter { node: Some("a".into()), ..Default::default() }).await, [running]);
    assert!(by(JobFilter { node: Some("b".into()), ..Default::default() }).await.is_empty());
    // Names match exactly, case and all; a search of digits also names an id.
    assert_eq!(
        by(JobFilter { name: Some("ightly".into()), ..Default::default() }).await,
        [later[0], first[0]]
    );
    assert_eq!(
        by(JobFilter { name: Some("Night".into()), ..Default::default() }).await,
        [later[0]]
    );
    assert_eq!(
        by(JobFilter { search: Some("hour".into()), ..Default::default() }).await,
        [first[1]]
    );
    let id = later[1].to_string();
    assert_eq!(by(JobFilter { search: Some(id), ..Default::default() }).await, [later[1]]);
    assert!(by(JobFilter { name: Some("%".into()), ..Default::default() }).await.is_empty());
    // At or after the split, and before it: the two halves.
    let after = JobFilter { submitted_after: Some(split), ..Default::default() };
    assert_eq!(by(after).await, [later[1], later[0]]);
    let before = JobFilter { submitted_before: Some(split), ..Default::default() };
    assert_eq!(by(before).await, [first[1], first[0]]);
    // Combined with AND, and paged by id.
    let both = JobFilter {
        module_hash: Some(HASH.into()),
        submitted_after: Some(split),
        before: Some(later[1]),
        ..Default::default()
    };
    assert_eq!(by(both).await, [later[0]]);
    assert!(JobFilter::default().selects_everything());
    assert!(!JobFilter { name: Some("x".into()), ..Default::default() }.selects_everything());
}

async fn bulk_actions_change_only_the_jobs_they_apply_to(store: &Store) {
    with_two_modules(store).await;
    let mine: Vec<i64> = store.submit(vec![job(); 3]).await.unwrap().iter().map(|j| j.0).collect();
    let theirs = store.submit(vec![named("x", OTHER), named("y", OTHER)]).await.unwrap();
    let claimed = claim(store, 2).await;
    let failed = Finished {
        state: JobState::Failed,
        error: Some("boom".into()),
        ..succeeded(&claimed[0], "")
    };
    store.finish_and_claim(Vec::new(), vec![failed], "default", 0).await.unwrap();
    // Mine: failed, running, queued. Theirs: queued, queued.
    let mut events = store.subscribe();
    let module = JobFilter { module_hash: Some(HASH.into()), ..Default::default() };
    let cancelled = store.cancel_matching(&module).await.unwrap();
    assert_eq!(cancelled.matched, 3);
    let mut changed = cancelled.changed.clone();
    changed.sort();
    assert_eq!(changed, [(mine[1], JobState::Running), (mine[2], JobState::Queued)]);
    for _ in 0..2 {
        assert_eq!(events.recv().await.unwrap().state, JobState::Cancelled);
    }
    assert_eq!(state(store, mine[0]).await.state, JobState::Failed, "an ended job is left alone");
    // A late result of the cancelled running attempt changes nothing.
    store
        .finish_and_claim(Vec::new(), vec![succeeded(&claimed[1], "late")], "default", 0)
        .await
        .unwrap();
    assert_eq!(state(store, mine[1]).await.state, JobState::Cancelled);

    let failed_only = JobFilter { state: Some(JobState::Failed), ..module.clone() };
    let retried = store.retry_matching(&failed_only).await.unwrap();
    assert_eq!((retried.matched, retried.changed), (1, vec![(mine[0], JobState::Failed)]));
    let again = state(store, mine[0]).await;
    assert_eq!((again.state, again.error, again.max_attempts), (JobState::Queued, None, 2));
    let rest = store.retry_matching(&module).await.unwrap();
    assert_eq!((rest.matched, rest.changed.len()), (3, 2), "the queued one is not retried");
    let nothing = JobFilter { state: Some(JobState::Succeeded), ..Default::default() };
    assert_eq!(store.cancel_matching(&nothing).await.unwrap().changed, []);
    for (id, _) in theirs {
        assert_eq!(state(store, id).await.state, JobState::Queued, "another module's job");
    }
    let counts = store.counts().await.unwrap();
    assert_eq!((counts[&JobState::Queued], counts[&JobState::Cancelled]), (5, 0));
    assert_eq!(store.cancel(mine[0]).await.unwrap(), Cancel::Cancelled(JobState::Queued));
}

/// An attempt `number` of the job that ended in `state` with `error`, to retry unless last.
fn ended(attempt: Attempt, state: JobState, error: Option<&str>, retry: bool) -> Finished {
    let now = SystemTime::now();
    Finished {
        attempt,
        retry_at: retry.then_some(now),
        state,
        worker_pid: Some(40 + attempt.number),
        started_at: now,
        finished_at: now,
        exit_code: Some(i32::from(error.is_some())),
        stdout: Vec::new(),
        stderr: Vec::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        error: error.map(str::to_string),
        fuel_used: None,
        peak_memory_bytes: 0,
        result: None,
        spawned: None,
    }
}

async fn every_ended_current_attempt_is_kept_and_goes_with_its_job(store: &Store) {
    with_module(store).await;
    let id = store.submit(vec![NewJob { max_attempts: 3, ..job() }]).await.unwrap()[0].0;
    for (n, error) in [(1, "boom 1"), (2, "boom 2")] {
        let attempt = claim(store, 1).await.remove(0).attempt();
        assert_eq!(attempt.number, n);
        let end = ended(attempt, JobState::Failed, Some(error), true);
        store.finish_and_claim(Vec::new(), vec![end], "default", 0).await.unwrap();
    }
    let third = claim(store, 1).await.remove(0).attempt();
    let stale = Attempt { number: 2, ..third };
    let ends = vec![
        ended(stale, JobState::Failed, Some("stale"), false),
        ended(third, JobState::Succeeded, None, false),
    ];
    store.finish_and_claim(Vec::new(), ends, "default", 0).await.unwrap();
    let history = store.attempts(&[id]).await.unwrap().remove(&id).unwrap_or_default();
    let seen: Vec<_> = history.iter().map(|a| (a.attempt, a.state, a.error.as_deref())).collect();
    assert_eq!(
        seen,
        [
            (1, JobState::Failed, Some("boom 1")),
            (2, JobState::Failed, Some("boom 2")),
            (3, JobState::Succeeded, None),
        ]
    );
    assert_eq!((history[0].node.as_deref(), history[1].worker_pid), (Some("a"), Some(42)));
    assert_eq!(state(store, id).await.state, JobState::Succeeded);

    // A cancelled attempt's late result joins no history; deleting a job takes its history.
    let other = store.submit(vec![job()]).await.unwrap()[0].0;
    let attempt = claim(store, 1).await.remove(0).attempt();
    store.cancel(other).await.unwrap();
    let late = ended(attempt, JobState::Failed, Some("late"), false);
    store.finish_and_claim(Vec::new(), vec![late], "default", 0).await.unwrap();
    assert!(store.attempts(&[other]).await.unwrap().is_empty());
    store.delete_job(id).await.unwrap();
    assert!(store.attempts(&[id]).await.unwrap().is_empty());
}

async fn bulk_delete_removes_only_ended_jobs_with_their_histories(store: &Store) {
    with_two_modules(store).await;
    let mine: Vec<i64> = store.submit(vec![job(); 4]).await.unwrap().iter().map(|j| j.0).collect();
    let theirs = store.submit(vec![named("x", OTHER)]).await.unwrap()[0].0;
    let claimed = claim(store, 3).await;
    let ends = vec![
        ended(claimed[0].attempt(), JobState::Failed, Some("boom"), false),
        ended(claimed[1].attempt(), JobState::Succeeded, None, false),
    ];
    store.finish_and_claim(Vec::new(), ends, "default", 0).await.unwrap();
    // Mine: failed, succeeded, running, queued; theirs: queued, then cancelled.
    store.cancel(theirs).await.unwrap();
    let module = JobFilter { module_hash: Some(HASH.into()), ..Default::default() };

    let counted = store.count_matching(&module).await.unwrap();
    assert_eq!(counted.values().sum::<u64>(), 4, "counting deletes nothing");
    assert_eq!(state(store, mine[0]).await.state, JobState::Failed);

    let deleted = store.delete_matching(&module).await.unwrap();
    let mut changed = deleted.changed.clone();
    changed.sort();
    assert_eq!(deleted.matched, 4);
    assert_eq!(changed, [(mine[0], JobState::Failed), (mine[1], JobState::Succeeded)]);
    for &id in &mine[..2] {
        assert!(store.job(id).await.unwrap().is_none(), "job {id} is gone");
        assert!(store.attempts(&[id]).await.unwrap().is_empty(), "and its history");
    }
    assert_eq!(state(store, mine[2]).await.state, JobState::Running, "running is kept");
    assert_eq!(state(store, mine[3]).await.state, JobState::Queued, "queued is kept");
    assert_eq!(state(store, theirs).await.state, JobState::Cancelled, "another module's");
    let cancelled = JobFilter { state: Some(JobState::Cancelled), ..Default::default() };
    let answer = store.delete_matching(&cancelled).await.unwrap();
    assert_eq!(answer.changed, [(theirs, JobState::Cancelled)]);
    let counts = store.counts().await.unwrap();
    let count = |state| counts.get(&state).copied().unwrap_or(0);
    assert_eq!(
        (count(JobState::Failed), count(JobState::Succeeded), count(JobState::Cancelled)),
        (0, 0, 0),
        "the per-state counts drop with the deleted jobs"
    );
}

/// Not a check but a measurement (run by hand, `-- --ignored conformance::bulk::measure`):
/// how long the filtered list and the bulk actions take on 100k jobs, on each backend.
mod measure {
    use std::time::{Duration, Instant, SystemTime};

    use wasmpool::job::JobState;
    use wasmpool::store::{JobFilter, NewJob, Store};

    use super::{HASH, OTHER, job, named, with_two_modules};

    const JOBS: usize = 100_000;

    async fn timed<T>(what: &str, work: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let answer = work.await;
        println!("{what}: {:?}", started.elapsed());
        answer
    }

    async fn run(store: &Store) {
        with_two_modules(store).await;
        let batch: Vec<NewJob> = (0..1000)
            .map(|i| if i % 10 == 0 { named(&format!("n{i}"), OTHER) } else { job() })
            .collect();
        let delayed: Vec<NewJob> = batch
            .iter()
            .map(|j| NewJob { delay: Duration::from_secs(3600), ..j.clone() })
            .collect();
        let mut split = None;
        for round in 0..JOBS / 1000 {
            store.submit(delayed.clone()).await.unwrap();
            if round == JOBS / 2000 {
                split = Some(SystemTime::now());
            }
        }
        let page = |filter: JobFilter| JobFilter { limit: 51, ..filter };
        let lists = [
            ("no filter", JobFilter::default()),
            (
                "state=running (none)",
                JobFilter { state: Some(JobState::Running), ..Default::default() },
            ),
            ("module=other", JobFilter { module_hash: Some(OTHER.into()), ..Default::default() }),
            ("name=n99 (scan)", JobFilter { name: Some("n99".into()), ..Default::default() }),
            ("q=12345", JobFilter { search: Some("12345".into()), ..Default::default() }),
            ("node=b (none, scan)", JobFilter { node: Some("b".into()), ..Default::default() }),
            ("submitted_before=half", JobFilter { submitted_before: split, ..Default::default() }),
            ("submitted_after=half", JobFilter { submitted_after: split, ..Default::default() }),
        ];
        for (what, filter) in lists {
            let found = timed(&format!("list {what}"), store.jobs(&page(filter))).await.unwrap();
            println!("  {} jobs", found.len());
        }
        let hash = JobFilter { module_hash: Some(HASH.into()), ..Default::default() };
        let cancelled = timed("cancel 90k (module)", store.cancel_matching(&hash)).await.unwrap();
        println!("  matched {} changed {}", cancelled.matched, cancelled.changed.len());
        let retried = timed("retry 90k (module)", store.retry_matching(&hash)).await.unwrap();
        println!("  matched {} changed {}", retried.matched, retried.changed.len());
        store.cancel_matching(&hash).await.unwrap();
        let deleted = timed("delete 90k (module)", store.delete_matching(&hash)).await;
        let deleted = deleted.unwrap();
        println!("  matched {} deleted {}", deleted.matched, deleted.changed.len());
    }

    #[tokio::test(flavor = "multi_thread")]
    #[ignore = "a measurement, run by hand"]
    async fn sqlite() {
        let opened = super::super::sqlite().await;
        run(&opened.store).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    #[ignore = "a measurement, run by hand"]
    async fn postgres() {
        let opened = super::super::postgres().await;
        run(&opened.store).await;
    }
}

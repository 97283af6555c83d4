//! The store's contract, checked against both backends: every case runs on a fresh SQLite
//! file and on a fresh PostgreSQL database (see `postgres.rs`). Then the cases only a shared
//! store has: two hosts claiming, fencing, losing a host and rescuing its jobs.

use std::time::{Duration, SystemTime};

use wasmpool::job::JobState;
use wasmpool::job::ModuleKind;
use wasmpool::store::{
    Attempt, Beat, Cancel, Change, Finished, Fired, JobFilter, JobRecord, LaneCount, Location,
    NewJob, NewSchedule, NodeInfo, Running, ScheduleChange, ScheduleRecord, Store, StoreError,
    Tick,
};

use super::postgres;

/// A node named `name` with a lease long enough not to run out during a test.
pub fn node(name: &str) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        address: "127.0.0.1:0".into(),
        version: "test".into(),
        workers: 2,
        lanes: vec![("default".into(), 2)],
        lease: Duration::from_secs(60),
        connections: 16,
    }
}

/// A store of each kind: the SQLite one keeps its directory alive.
struct Opened {
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Opened {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::Sqlite(dir.path().join("wasmpool.db"));
    Opened { store: Store::open(&location, &node("a")).await.unwrap(), _dir: Some(dir) }
}

async fn postgres() -> Opened {
    let location = Location::Postgres(postgres::shared().database());
    Opened { store: Store::open(&location, &node("a")).await.unwrap(), _dir: None }
}

/// Runs a case on both backends.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                let opened = super::sqlite().await;
                super::$case(&opened.store).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() {
                let opened = super::postgres().await;
                super::$case(&opened.store).await;
            }
        }
    )*};
}

conformance!(
    a_claimed_job_runs_once_and_its_result_is_kept,
    many_jobs_are_read_by_id_with_their_output_sizes,
    claims_take_the_highest_priority_then_the_oldest,
    a_stale_or_cancelled_attempt_changes_nothing,
    a_released_attempt_is_queued_again_uncounted,
    an_idempotency_key_returns_the_first_job,
    the_guests_command_line_is_kept_with_the_job,
    unknown_and_used_modules_are_refused,
    retry_and_delete_follow_the_states,
    queue_items_go_to_one_taker_in_order_within_capacity,
    transitions_are_announced_after_commit,
    only_the_current_attempt_of_a_job_may_use_the_queues,
    claims_keep_to_their_lane,
    a_capped_module_never_has_more_running_than_its_cap,
    lanes_are_counted_and_served,
);

mod bulk;
mod spawned;
mod tenants;
mod workflows;

const HASH: &str = "abababababababababababababababababababababababababababababababab";

async fn with_module(store: &Store) {
    store.put_module(HASH.into(), ModuleKind::Module, b"\0asm", Some("m".into())).await.unwrap();
}

fn job() -> NewJob {
    NewJob { module_hash: HASH.into(), max_attempts: 1, timeout_ms: 1000, ..NewJob::default() }
}

async fn claim(store: &Store, n: usize) -> Vec<JobRecord> {
    store.finish_and_claim(Vec::new(), Vec::new(), "default", n).await.unwrap().jobs
}

fn succeeded(job: &JobRecord, stdout: &str) -> Finished {
    let now = SystemTime::now();
    Finished {
        attempt: job.attempt(),
        retry_at: None,
        state: JobState::Succeeded,
        worker_pid: Some(42),
        started_at: now,
        finished_at: now,
        exit_code: Some(0),
        stdout: stdout.as_bytes().to_vec(),
        stderr: Vec::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        error: None,
        fuel_used: None,
        peak_memory_bytes: 65536,
        result: None,
        spawned: None,
    }
}

async fn state(store: &Store, id: i64) -> JobRecord {
    store.job(id).await.unwrap().expect("the job exists")
}

async fn a_claimed_job_runs_once_and_its_result_is_kept(store: &Store) {
    with_module(store).await;
    let ids = store.submit(vec![job(); 3]).await.unwrap();
    assert!(ids.windows(2).all(|pair| pair[0].0 < pair[1].0), "ids rise in order: {ids:?}");
    let claimed = claim(store, 2).await;
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|job| job.state == JobState::Running && job.attempts == 1));
    assert_eq!(claimed[0].node.as_deref(), Some("a"));
    assert_eq!(claim(store, 5).await.len(), 1, "only one job was left");
    store
        .finish_and_claim(Vec::new(), vec![succeeded(&claimed[0], "hi")], "default", 0)
        .await
        .unwrap();
    let done = state(store, claimed[0].id).await;
    assert_eq!(
        (done.state, done.stdout, done.exit_code),
        (JobState::Succeeded, b"hi".to_vec(), Some(0))
    );
    let counts = store.counts().await.unwrap();
    assert_eq!((counts[&JobState::Succeeded], counts[&JobState::Running]), (1, 2));
    let running = JobFilter { state: Some(JobState::Running), limit: 10, ..JobFilter::default() };
    assert_eq!(store.jobs(&running).await.unwrap().len(), 2);
}

async fn many_jobs_are_read_by_id_with_their_output_sizes(store: &Store) {
    with_module(store).await;
    let ids: Vec<i64> = store.submit(vec![job(); 3]).await.unwrap().iter().map(|j| j.0).collect();
    let claimed = claim(store, 1).await;
    store
        .finish_and_claim(Vec::new(), vec![succeeded(&claimed[0], "hello")], "default", 0)
        .await
        .unwrap();
    // Asked in any order, with an id that is no job: those that exist, by id.
    let asked = [ids[2], 999_999, ids[0], ids[1]];
    let standings = store.standings(&asked).await.unwrap();
    let seen: Vec<(i64, JobState, u64)> =
        standings.iter().map(|s| (s.id, s.state, s.output_bytes)).collect();
    assert_eq!(
        seen,
        [
            (ids[0], JobState::Succeeded, 5),
            (ids[1], JobState::Queued, 0),
            (ids[2], JobState::Queued, 0)
        ]
    );
    let records = store.jobs_by_id(&asked).await.unwrap();
    let read: Vec<(i64, Vec<u8>)> = records.into_iter().map(|j| (j.id, j.stdout)).collect();
    assert_eq!(read, [(ids[0], b"hello".to_vec()), (ids[1], vec![]), (ids[2], vec![])]);
    assert!(store.standings(&[]).await.unwrap().is_empty());
}

async fn claims_take_the_highest_priority_then_the_oldest(store: &Store) {
    with_module(store).await;
    let low = store.submit(vec![job()]).await.unwrap()[0].0;
    let high = store.submit(vec![NewJob { priority: 5, ..job() }]).await.unwrap()[0].0;
    let later = store.submit(vec![job()]).await.unwrap()[0].0;
    let delayed = NewJob { delay: Duration::from_secs(3600), ..job() };
    store.submit(vec![delayed]).await.unwrap();
    let order: Vec<i64> = claim(store, 10).await.iter().map(|job| job.id).collect();
    assert_eq!(order, [high, low, later], "the delayed job is not due");
    assert!(store.next_due("default").await.unwrap().is_some());
}

async fn a_stale_or_cancelled_attempt_changes_nothing(store: &Store) {
    with_module(store).await;
    store.submit(vec![job(), job()]).await.unwrap();
    let claimed = claim(store, 2).await;
    let mut stale = succeeded(&claimed[0], "stale");
    stale.attempt = Attempt { number: claimed[0].attempts + 1, ..claimed[0].attempt() };
    store
        .finish_and_claim(vec![(stale.attempt, SystemTime::now())], vec![stale], "default", 0)
        .await
        .unwrap();
    let job = state(store, claimed[0].id).await;
    assert_eq!((job.state, job.started_at), (JobState::Running, None), "another attempt's write");

    assert_eq!(store.cancel(claimed[1].id).await.unwrap(), Cancel::Cancelled(JobState::Running));
    let late = succeeded(&claimed[1], "late");
    store.finish_and_claim(Vec::new(), vec![late], "default", 0).await.unwrap();
    assert_eq!(state(store, claimed[1].id).await.state, JobState::Cancelled);
    assert_eq!(
        store.cancel(claimed[1].id).await.unwrap(),
        Cancel::AlreadyEnded(JobState::Cancelled)
    );
    assert_eq!(store.cancel(999_999).await.unwrap(), Cancel::NotFound);
}

async fn a_released_attempt_is_queued_again_uncounted(store: &Store) {
    with_module(store).await;
    store.submit(vec![job()]).await.unwrap();
    let claimed = claim(store, 1).await;
    store.release(vec![claimed[0].attempt()]).await.unwrap();
    let job = state(store, claimed[0].id).await;
    assert_eq!((job.state, job.attempts), (JobState::Queued, 0));
    // Releasing it again (a stale token now) changes nothing.
    store.release(vec![claimed[0].attempt()]).await.unwrap();
    assert_eq!(claim(store, 1).await[0].attempts, 1);
}

async fn an_idempotency_key_returns_the_first_job(store: &Store) {
    with_module(store).await;
    let keyed = NewJob { idempotency_key: Some("k".into()), ..job() };
    let first = store.submit(vec![keyed.clone(), job()]).await.unwrap();
    let again = store.submit(vec![keyed]).await.unwrap();
    assert_eq!(first[0], again[0]);
    assert_eq!(store.counts().await.unwrap()[&JobState::Queued], 2);
}

/// argv0, job_env and the module name a job was submitted by come back as they went in,
/// through both insert paths (a batch, and one job with an idempotency key).
async fn the_guests_command_line_is_kept_with_the_job(store: &Store) {
    with_module(store).await;
    let given = NewJob {
        argv0: Some("calc".into()),
        job_env: true,
        module_name: Some("m".into()),
        ..job()
    };
    let keyed = NewJob { idempotency_key: Some("k".into()), ..given.clone() };
    let ids = store.submit(vec![given, job(), keyed]).await.unwrap();
    for (id, _) in [ids[0], ids[2]] {
        let kept = state(store, id).await;
        assert_eq!(
            (kept.argv0.as_deref(), kept.job_env, kept.module_name.as_deref()),
            (Some("calc"), true, Some("m"))
        );
    }
    let plain = state(store, ids[1].0).await;
    assert_eq!((plain.argv0, plain.job_env, plain.module_name), (None, false, None));
    let claimed = claim(store, 3).await;
    assert_eq!(claimed.iter().filter(|job| job.job_env).count(), 2, "claims carry it too");
}

async fn unknown_and_used_modules_are_refused(store: &Store) {
    let unknown = store.submit(vec![job()]).await.unwrap_err();
    assert!(matches!(unknown, StoreError::UnknownModule(_)), "{unknown}");
    with_module(store).await;
    assert_eq!(store.module("m").await.unwrap().unwrap().hash, HASH);
    store.submit(vec![job()]).await.unwrap();
    let in_use = store.delete_module(HASH.into()).await.unwrap_err();
    assert!(matches!(in_use, StoreError::ModuleInUse { jobs: 1, .. }), "{in_use}");
    assert_eq!(store.modules().await.unwrap().len(), 1);
}

async fn retry_and_delete_follow_the_states(store: &Store) {
    with_module(store).await;
    let id = store.submit(vec![job()]).await.unwrap()[0].0;
    assert_eq!(store.retry(id).await.unwrap(), Change::Refused(JobState::Queued));
    assert_eq!(store.delete_job(id).await.unwrap(), Change::Refused(JobState::Queued));
    store.cancel(id).await.unwrap();
    assert_eq!(store.retry(id).await.unwrap(), Change::Done);
    assert_eq!(state(store, id).await.state, JobState::Queued);
    store.cancel(id).await.unwrap();
    assert_eq!(store.delete_job(id).await.unwrap(), Change::Done);
    assert_eq!(store.delete_job(id).await.unwrap(), Change::NotFound);
}

async fn queue_items_go_to_one_taker_in_order_within_capacity(store: &Store) {
    assert!(store.queue_put("q".into(), b"1".to_vec(), 2, None).await.unwrap());
    assert!(store.queue_put("q".into(), b"2".to_vec(), 2, None).await.unwrap());
    assert!(!store.queue_put("q".into(), b"3".to_vec(), 2, None).await.unwrap(), "full");
    let (id, item) = store.queue_take("q".into(), None).await.unwrap().unwrap();
    assert_eq!(item, b"1");
    store.queue_restore("q".into(), id, item).await.unwrap();
    let again = store.queue_take("q".into(), None).await.unwrap().unwrap();
    assert_eq!(again.1, b"1", "back in its place");
    assert_eq!(store.queue_len("q").await.unwrap(), 1);
    let queues = store.queues().await.unwrap();
    assert_eq!((queues[0].name.as_str(), queues[0].length, queues.len()), ("q", 1, 1));
}

async fn only_the_current_attempt_of_a_job_may_use_the_queues(store: &Store) {
    with_module(store).await;
    store.submit(vec![job()]).await.unwrap();
    let held = claim(store, 1).await.remove(0);
    let current = Running { id: held.id, attempt: held.attempts };
    let stale = Running { attempt: held.attempts + 1, ..current };
    assert!(store.queue_put("q".into(), b"x".to_vec(), 10, Some(current)).await.unwrap());
    let refused = store.queue_put("q".into(), b"y".to_vec(), 10, Some(stale)).await.unwrap_err();
    assert!(matches!(refused, StoreError::NotRunning(_)), "{refused}");
    assert_eq!(store.queue_take("q".into(), Some(stale)).await.unwrap(), None);
    store.progress(stale, 50, "stale".into()).await.unwrap();
    assert_eq!(state(store, held.id).await.progress, None);
    store.progress(current, 50, "half".into()).await.unwrap();
    assert_eq!(state(store, held.id).await.progress, Some((50, "half".into())));
    assert_eq!(store.queue_take("q".into(), Some(current)).await.unwrap().unwrap().1, b"x");
}

async fn transitions_are_announced_after_commit(store: &Store) {
    with_module(store).await;
    let mut events = store.subscribe();
    let queued = *store.queued().borrow();
    let id = store.submit(vec![job()]).await.unwrap()[0].0;
    let event = events.recv().await.unwrap();
    assert_eq!((event.id, event.state), (id, JobState::Queued));
    assert!(*store.queued().borrow() > queued);
    // A refused change announces nothing.
    store.submit(vec![NewJob { module_hash: "cd".repeat(32), ..job() }]).await.unwrap_err();
    claim(store, 1).await;
    assert_eq!(events.recv().await.unwrap().state, JobState::Running);
}

// The cluster: several hosts on one PostgreSQL database.

async fn claims_keep_to_their_lane(store: &Store) {
    with_module(store).await;
    let slow = NewJob { lane: "slow".into(), ..job() };
    let slow_ids: Vec<i64> =
        store.submit(vec![slow.clone(); 3]).await.unwrap().into_iter().map(|(id, _)| id).collect();
    let default_ids: Vec<i64> =
        store.submit(vec![job(); 2]).await.unwrap().into_iter().map(|(id, _)| id).collect();
    let ids = |jobs: Vec<JobRecord>| jobs.into_iter().map(|job| job.id).collect::<Vec<_>>();
    assert_eq!(ids(claim(store, 10).await), default_ids, "the default lane's jobs only");
    let claimed = store.finish_and_claim(Vec::new(), Vec::new(), "slow", 10).await.unwrap();
    assert_eq!(ids(claimed.jobs.clone()), slow_ids, "the slow lane's jobs, in order");
    assert!(claimed.jobs.iter().all(|job| job.lane == "slow"));
    assert_eq!(state(store, slow_ids[0]).await.lane, "slow", "the lane is kept");
    let nothing = store.finish_and_claim(Vec::new(), Vec::new(), "other", 10).await.unwrap();
    assert!(nothing.jobs.is_empty());
    // The next due job is looked for in the lane asked about only.
    store.submit(vec![NewJob { delay: Duration::from_secs(3600), ..slow }]).await.unwrap();
    assert!(store.next_due("slow").await.unwrap().is_some());
    assert_eq!(store.next_due("default").await.unwrap(), None);
}

async fn a_capped_module_never_has_more_running_than_its_cap(store: &Store) {
    with_module(store).await;
    let capped = store.set_max_running(HASH.into(), Some(2)).await.unwrap().expect("the module");
    assert_eq!(capped.max_running, Some(2));
    assert_eq!(store.module("m").await.unwrap().unwrap().max_running, Some(2));
    assert!(store.set_max_running("cd".repeat(32), Some(1)).await.unwrap().is_none());
    // A second module, uncapped, whose jobs queue after the capped one's.
    let other = "cd".repeat(32);
    store.put_module(other.clone(), ModuleKind::Module, b"\0asm", None).await.unwrap();
    store.submit(vec![job(); 5]).await.unwrap();
    store.submit(vec![NewJob { module_hash: other.clone(), ..job() }; 2]).await.unwrap();
    // One batch claim takes two of the capped module's jobs and goes on past the rest.
    let first = claim(store, 10).await;
    let of = |jobs: &[JobRecord], hash: &str| jobs.iter().filter(|j| j.module_hash == hash).count();
    assert_eq!((of(&first, HASH), of(&first, &other)), (2, 2), "{first:?}");
    assert!(claim(store, 10).await.is_empty(), "the cap is full");
    // One ends: a slot frees, the dispatchers hear of it, one more is claimed.
    let queued = store.queued();
    let before = *queued.borrow();
    let capped_job = first.iter().find(|job| job.module_hash == HASH).unwrap();
    store
        .finish_and_claim(Vec::new(), vec![succeeded(capped_job, "")], "default", 0)
        .await
        .unwrap();
    assert!(*queued.borrow() > before, "an end of a capped job wakes the dispatchers");
    assert_eq!(claim(store, 10).await.len(), 1);
    // A cancelled running job frees its slot too.
    store.cancel(first.iter().rfind(|job| job.module_hash == HASH).unwrap().id).await.unwrap();
    assert_eq!(claim(store, 10).await.len(), 1);
    assert!(claim(store, 10).await.is_empty());
    // Raising the cap lets the last one run; clearing it is allowed.
    store.set_max_running(HASH.into(), Some(3)).await.unwrap();
    assert_eq!(claim(store, 10).await.len(), 1);
    let cleared = store.set_max_running(HASH.into(), None).await.unwrap().unwrap();
    assert_eq!(cleared.max_running, None);
}

async fn lanes_are_counted_and_served(store: &Store) {
    with_module(store).await;
    store.submit(vec![NewJob { lane: "slow".into(), ..job() }; 3]).await.unwrap();
    store.submit(vec![job(); 2]).await.unwrap();
    claim(store, 1).await;
    let counts = store.lane_counts().await.unwrap();
    assert_eq!(counts["slow"], LaneCount { queued: 3, running: 0 });
    assert_eq!(counts["default"], LaneCount { queued: 1, running: 1 });
    // SQLite's one host knows its lanes itself; a cluster's are its live hosts'.
    let served = store.lanes_served().await.unwrap();
    assert!(served.is_empty() || served == ["default"], "{served:?}");
}

async fn host(url: &str, name: &str, lease: Duration) -> Store {
    let node = NodeInfo { lease, ..node(name) };
    Store::open(&Location::Postgres(url.into()), &node).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_claim_disjoint_jobs_and_hear_each_other() {
    let url = postgres::shared().database();
    let a = host(&url, "a", Duration::from_secs(60)).await;
    let b = host(&url, "b", Duration::from_secs(60)).await;
    with_module(&a).await;
    let mut heard = b.subscribe();
    a.submit(vec![job(); 10]).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), heard.recv()).await;
    assert_eq!(event.expect("b hears a's submission").unwrap().state, JobState::Queued);
    let (x, y) = tokio::join!(claim(&a, 6), claim(&b, 6));
    let mut ids: Vec<i64> = x.iter().chain(&y).map(|job| job.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10, "every job claimed exactly once");
    assert!(y.iter().all(|job| job.node.as_deref() == Some("b")));
    let nodes: Vec<String> = a.nodes().await.unwrap().into_iter().map(|n| n.name).collect();
    assert_eq!(nodes, ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_name_cannot_be_taken_twice() {
    let url = postgres::shared().database();
    let _a = host(&url, "a", Duration::from_secs(60)).await;
    let node = node("a");
    let taken = Store::open(&Location::Postgres(url), &node).await.err().expect("refused");
    assert!(matches!(taken, StoreError::NodeNameTaken(_)), "{taken}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_host_is_lost_once_and_its_jobs_are_rescued() {
    let url = postgres::shared().database();
    let lease = Duration::from_millis(300);
    let a = host(&url, "a", lease).await;
    let b = host(&url, "b", lease).await;
    with_module(&a).await;
    let retried = NewJob { max_attempts: 2, ..job() };
    a.submit(vec![job(), retried, job()]).await.unwrap();
    let held = claim(&a, 3).await;
    let now = SystemTime::now();
    let started: Vec<_> = held[..2].iter().map(|job| (job.attempt(), now)).collect();
    a.finish_and_claim(started, Vec::new(), "default", 0).await.unwrap();

    // a stops beating; b keeps beating and, past the lease, rescues a's jobs, once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let rescued = loop {
        b.heartbeat(Beat::default()).await.unwrap();
        let (one, two) = tokio::join!(b.rescue(lease), b.rescue(lease));
        let (one, two) = (one.unwrap(), two.unwrap());
        if !one.nodes.is_empty() || !two.nodes.is_empty() {
            assert!(one.nodes.is_empty() || two.nodes.is_empty(), "rescued twice");
            break if one.nodes.is_empty() { two } else { one };
        }
        assert!(tokio::time::Instant::now() < deadline, "a was never declared lost");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rescued.nodes, ["a"]);
    assert_eq!((rescued.jobs.released, rescued.jobs.requeued, rescued.jobs.failed), (1, 1, 1));
    let failed = state(&a, held[0].id).await;
    assert_eq!(failed.state, JobState::Failed);
    assert!(failed.error.unwrap().contains("host a was lost while the job was running"));
    assert_eq!(state(&a, held[1].id).await.state, JobState::Queued);
    let unstarted = state(&a, held[2].id).await;
    assert_eq!((unstarted.state, unstarted.attempts), (JobState::Queued, 0));

    // a comes back: its late result and queue calls change nothing, it learns it was lost,
    // and rejoins.
    a.finish_and_claim(Vec::new(), vec![succeeded(&held[1], "stale")], "default", 0).await.unwrap();
    a.queue_put("q".into(), b"x".to_vec(), 10, None).await.unwrap();
    let stale = Running { id: held[1].id, attempt: held[1].attempts };
    assert_eq!(a.queue_take("q".into(), Some(stale)).await.unwrap(), None);
    assert_eq!(state(&a, held[1].id).await.state, JobState::Queued);
    let heard = a.heartbeat(Beat { holding: vec![held[1].attempt()], ..Beat::default() });
    let heard = heard.await.unwrap();
    assert!(!heard.alive);
    assert_eq!(heard.gone, [held[1].id]);
    assert!(claim(&a, 5).await.is_empty(), "a lost host claims nothing");
    a.rejoin().await.unwrap();
    assert_eq!(claim(&a, 5).await.len(), 2);
}

/// A claim whose answer never reached its host (the connection dropped during its commit)
/// would hold jobs `running` for ever on a live host: after a lease, the host's heartbeat
/// gives back the unstarted claims it does not hold.
#[tokio::test(flavor = "multi_thread")]
async fn claims_a_live_host_never_heard_of_go_back_after_a_lease() {
    let url = postgres::shared().database();
    let lease = Duration::from_millis(300);
    let a = host(&url, "a", lease).await;
    with_module(&a).await;
    a.submit(vec![job(), job()]).await.unwrap();
    let claimed = claim(&a, 2).await;
    let holding = vec![claimed[0].attempt()];
    let heard = a.heartbeat(Beat { holding: holding.clone(), ..Beat::default() }).await.unwrap();
    assert!(heard.alive && heard.gone.is_empty(), "{heard:?}");
    assert_eq!(state(&a, claimed[1].id).await.state, JobState::Running, "not before a lease");
    // The lease passing is the condition itself, on the database's clock.
    tokio::time::sleep(lease * 2).await;
    a.heartbeat(Beat { holding, ..Beat::default() }).await.unwrap();
    let orphan = state(&a, claimed[1].id).await;
    assert_eq!((orphan.state, orphan.attempts), (JobState::Queued, 0));
    assert_eq!(state(&a, claimed[0].id).await.state, JobState::Running, "held: kept");
}

// Schedules: the store arbitrates every tick.

conformance!(schedules_are_created_changed_and_deleted, a_tick_makes_one_job_and_only_once);

fn new_schedule(name: &str) -> NewSchedule {
    NewSchedule {
        name: name.into(),
        cron: "* * * * * *".into(),
        timezone: "UTC".into(),
        job: r#"{"module":"m"}"#.into(),
        enabled: true,
        catch_up: false,
    }
}

fn change() -> ScheduleChange {
    ScheduleChange::default()
}

/// The store's clock once it has passed `time` (bounded): the event a tick waits for.
async fn after(store: &Store, time: SystemTime) -> SystemTime {
    for _ in 0..1000 {
        let now = store.now().await.unwrap();
        if now > time {
            // As stored: whole microseconds.
            let micros = now.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_micros();
            return SystemTime::UNIX_EPOCH + Duration::from_micros(micros as u64);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the store's clock did not pass {time:?}");
}

fn tick(schedule: &ScheduleRecord, at: SystemTime, job: Result<NewJob, String>) -> Tick {
    Tick { schedule: schedule.clone(), at, job, skipped: 0 }
}

async fn schedules_are_created_changed_and_deleted(store: &Store) {
    let changed = store.schedules_changed();
    let created = store.create_schedule(new_schedule("b")).await.unwrap().expect("created");
    assert!(changed.has_changed().unwrap(), "a change is announced");
    assert_eq!(
        (created.enabled, created.last_tick, created.active_since),
        (true, None, created.created_at)
    );
    assert_eq!(store.create_schedule(new_schedule("b")).await.unwrap(), None, "the name is taken");
    store.create_schedule(new_schedule("a")).await.unwrap().expect("created");
    let names: Vec<String> = store.schedules().await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["a", "b"]);

    // Pausing and editing the job keep the ticks it counts from; resuming and a new cron
    // start it afresh, from now.
    let pause = ScheduleChange { enabled: Some(false), ..change() };
    let paused = store.update_schedule("b".into(), pause).await.unwrap().expect("exists");
    assert_eq!((paused.enabled, paused.active_since), (false, created.active_since));
    after(store, paused.active_since).await;
    let resume = ScheduleChange { enabled: Some(true), ..change() };
    let resumed = store.update_schedule("b".into(), resume).await.unwrap().expect("exists");
    assert!(resumed.enabled && resumed.active_since > created.active_since);
    let job =
        ScheduleChange { job: Some(r#"{"module":"n"}"#.into()), catch_up: Some(true), ..change() };
    let edited = store.update_schedule("b".into(), job).await.unwrap().expect("exists");
    assert_eq!((edited.job.as_str(), edited.catch_up), (r#"{"module":"n"}"#, true));
    assert_eq!(edited.active_since, resumed.active_since);
    after(store, edited.active_since).await;
    let cron = ScheduleChange { cron: Some("*/5 * * * *".into()), ..change() };
    let recroned = store.update_schedule("b".into(), cron).await.unwrap().expect("exists");
    assert!(recroned.active_since > edited.active_since);
    assert_eq!(store.schedule("b").await.unwrap().as_ref(), Some(&recroned));

    let unknown = ScheduleChange { enabled: Some(false), ..change() };
    assert_eq!(store.update_schedule("x".into(), unknown).await.unwrap(), None);
    assert!(store.delete_schedule("b".into()).await.unwrap());
    assert!(!store.delete_schedule("b".into()).await.unwrap());
    assert_eq!(store.schedule("b").await.unwrap(), None);
}

async fn a_tick_makes_one_job_and_only_once(store: &Store) {
    with_module(store).await;
    let submitted = store.submit(vec![job()]).await.unwrap()[0].0;
    let schedule = store.create_schedule(new_schedule("s")).await.unwrap().expect("created");
    // A tick that has not come by the store's clock, or is not after the schedule became
    // active, is nobody's to make.
    let future = store.now().await.unwrap() + Duration::from_secs(3600);
    assert_eq!(store.fire(tick(&schedule, future, Ok(job()))).await.unwrap(), Fired::Taken);
    let at_creation = tick(&schedule, schedule.active_since, Ok(job()));
    assert_eq!(store.fire(at_creation).await.unwrap(), Fired::Taken);

    let at = after(store, schedule.active_since).await;
    let Fired::Made(id) = store.fire(tick(&schedule, at, Ok(job()))).await.unwrap() else {
        panic!("the first try of a tick makes its job");
    };
    assert_eq!(store.fire(tick(&schedule, at, Ok(job()))).await.unwrap(), Fired::Taken);
    let made = state(store, id).await;
    assert_eq!((made.schedule.as_deref(), made.schedule_tick), (Some("s"), Some(at)));
    assert_eq!(made.state, JobState::Queued);
    let record = store.schedule("s").await.unwrap().expect("exists");
    assert_eq!(
        (record.last_tick, record.last_job_id, record.last_error.clone()),
        (Some(at), Some(id), None)
    );
    assert!(record.last_run_at.is_some());
    let of =
        |name: &str| JobFilter { schedule: Some(name.into()), limit: 10, ..JobFilter::default() };
    let listed: Vec<i64> = store.jobs(&of("s")).await.unwrap().iter().map(|job| job.id).collect();
    assert_eq!(listed, [id], "the filter leaves out job {submitted}, which was submitted");
    assert!(store.jobs(&of("other")).await.unwrap().is_empty());

    // A tick older than the last one handled: taken.
    let older = at - Duration::from_micros(1);
    assert_eq!(store.fire(tick(&record, older, Ok(job()))).await.unwrap(), Fired::Taken);
    // A host that read the schedule before it changed: taken.
    let stale = record.clone();
    let edit = ScheduleChange { job: Some(r#"{"module":"m","args":["x"]}"#.into()), ..change() };
    store.update_schedule("s".into(), edit).await.unwrap().expect("exists");
    let later = after(store, at).await;
    assert_eq!(store.fire(tick(&stale, later, Ok(job()))).await.unwrap(), Fired::Taken);

    // A tick whose job cannot be made records why, once.
    let current = store.schedule("s").await.unwrap().expect("exists");
    let failed = store.fire(tick(&current, later, Err("no module `x`".into()))).await.unwrap();
    assert_eq!(failed, Fired::Failed("no module `x`".into()));
    let record = store.schedule("s").await.unwrap().expect("exists");
    assert_eq!((record.last_tick, record.last_job_id), (Some(later), None));
    assert_eq!(record.last_error.as_deref(), Some("no module `x`"));
    // So does one whose module went after the job was checked.
    let gone = NewJob { module_hash: "cd".repeat(32), ..job() };
    let next = after(store, later).await;
    match store.fire(tick(&record, next, Ok(gone))).await.unwrap() {
        Fired::Failed(error) => assert!(error.contains("no module"), "{error}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.jobs(&of("s")).await.unwrap().len(), 1);

    // A paused schedule makes nothing.
    let pause = ScheduleChange { enabled: Some(false), ..change() };
    let paused = store.update_schedule("s".into(), pause).await.unwrap().expect("exists");
    let last = after(store, next).await;
    assert_eq!(store.fire(tick(&paused, last, Ok(job()))).await.unwrap(), Fired::Taken);
}

/// Every host tries every tick; the database lets exactly one through, and the others hear
/// of schedule changes.
#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_firing_the_same_ticks_make_one_job_each() {
    let url = postgres::shared().database();
    let a = host(&url, "a", Duration::from_secs(60)).await;
    let b = host(&url, "b", Duration::from_secs(60)).await;
    with_module(&a).await;
    let mut heard = b.schedules_changed();
    let schedule = a.create_schedule(new_schedule("s")).await.unwrap().expect("created");
    tokio::time::timeout(Duration::from_secs(5), heard.changed())
        .await
        .expect("b hears of a's schedule")
        .unwrap();
    let mut at = schedule.active_since;
    for _ in 0..20 {
        at = after(&a, at).await;
        let (x, y) = tokio::join!(
            a.fire(tick(&schedule, at, Ok(job()))),
            b.fire(tick(&schedule, at, Ok(job())))
        );
        let made = [x.unwrap(), y.unwrap()];
        let jobs = made.iter().filter(|fired| matches!(fired, Fired::Made(_))).count();
        assert_eq!(jobs, 1, "tick {at:?}: {made:?}");
        assert!(made.contains(&Fired::Taken), "{made:?}");
    }
    let filter = JobFilter { schedule: Some("s".into()), limit: 100, ..JobFilter::default() };
    assert_eq!(a.jobs(&filter).await.unwrap().len(), 20);
}

// What the dashboard reads: figures per module, jobs ended per bucket, queue ages.

conformance!(
    module_stats_count_runs_take_percentiles_and_keep_the_latest_failure,
    history_counts_jobs_ended_per_bucket_with_empty_buckets,
    queues_tell_their_oldest_items_age,
);

/// Ends `job` in `state` after running `ms` milliseconds, finishing at `at`.
fn ended(job: &JobRecord, state: JobState, ms: u64, at: SystemTime) -> Finished {
    let error = (state != JobState::Succeeded).then(|| format!("{state} after {ms} ms"));
    Finished {
        state,
        started_at: at - Duration::from_millis(ms),
        finished_at: at,
        exit_code: None,
        error,
        ..succeeded(job, "")
    }
}

/// Submits `n` jobs, claims them, and ends the i-th as `end(i, job)` says.
async fn run_all(store: &Store, n: usize, end: impl Fn(usize, &JobRecord) -> Finished) {
    store.submit(vec![job(); n]).await.unwrap();
    let mut claimed = claim(store, n).await;
    claimed.sort_by_key(|job| job.id);
    let finished = claimed.iter().enumerate().map(|(i, job)| end(i, job)).collect();
    store.finish_and_claim(Vec::new(), finished, "default", 0).await.unwrap();
}

async fn module_stats_count_runs_take_percentiles_and_keep_the_latest_failure(store: &Store) {
    with_module(store).await;
    let other = "cd".repeat(32);
    store.put_module(other.clone(), ModuleKind::Module, b"\0asm", None).await.unwrap();
    assert_eq!(store.module_stats().await.unwrap(), [], "no runs, no figures");
    // 20 runs of 10, 20, …, 200 ms: the 19th and 20th failed (then timed out), 10 s apart.
    let base = SystemTime::now() - Duration::from_secs(600);
    run_all(store, 20, |i, job| {
        let state = match i {
            18 => JobState::Failed,
            19 => JobState::TimedOut,
            _ => JobState::Succeeded,
        };
        ended(job, state, 10 * (i as u64 + 1), base + Duration::from_secs(10 * i as u64))
    })
    .await;
    // A cancelled job is not a run of the module.
    let id = store.submit(vec![job()]).await.unwrap()[0].0;
    store.cancel(id).await.unwrap();

    let stats = store.module_stats().await.unwrap();
    assert_eq!(stats.len(), 1, "only the module with runs: {stats:?}");
    let stats = &stats[0];
    assert_eq!((stats.hash.as_str(), stats.runs, stats.succeeded, stats.failed), (HASH, 20, 18, 2));
    // Nearest rank: p50 is the 10th of 20 (100 ms), p95 the 19th (190 ms).
    assert_eq!(stats.p50, Some(Duration::from_millis(100)));
    assert_eq!(stats.p95, Some(Duration::from_millis(190)));
    let last = stats.last_failure.as_ref().expect("a latest failure");
    let newest = claim_order_id(store, 19).await;
    assert_eq!(last.job_id, newest, "the timed-out job ended last");
    assert_eq!(last.error.as_deref(), Some("timed_out after 200 ms"));
    let at = base + Duration::from_secs(190);
    assert_eq!(rounded(last.finished_at), rounded(at));
}

/// The id of the `index`-th job submitted (they are numbered from the first).
async fn claim_order_id(store: &Store, index: usize) -> i64 {
    let filter = JobFilter { limit: 1000, ..JobFilter::default() };
    let mut ids: Vec<i64> = store.jobs(&filter).await.unwrap().iter().map(|j| j.id).collect();
    ids.sort();
    ids[index]
}

/// A time to the microsecond (as the stores keep it).
fn rounded(time: SystemTime) -> u128 {
    time.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_micros()
}

async fn history_counts_jobs_ended_per_bucket_with_empty_buckets(store: &Store) {
    with_module(store).await;
    let minute = Duration::from_secs(60);
    let now = SystemTime::now();
    let from = SystemTime::UNIX_EPOCH
        + Duration::from_secs(
            now.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() / 60 * 60,
        )
        - minute * 5;
    // Bucket 1: two succeeded; bucket 3: one failed, one timed out, one cancelled (not
    // counted); before the window: one succeeded.
    let at = [
        (JobState::Succeeded, from + minute + Duration::from_secs(1)),
        (JobState::Succeeded, from + minute * 2 - Duration::from_millis(1)),
        (JobState::Failed, from + minute * 3),
        (JobState::TimedOut, from + minute * 3 + Duration::from_secs(30)),
        (JobState::Succeeded, from - Duration::from_secs(1)),
    ];
    run_all(store, at.len(), |i, job| ended(job, at[i].0, 5, at[i].1)).await;
    let id = store.submit(vec![job()]).await.unwrap()[0].0;
    store.cancel(id).await.unwrap();

    let buckets = store.history(from, minute, 6).await.unwrap();
    let counts: Vec<(u64, u64)> = buckets.iter().map(|b| (b.succeeded, b.failed)).collect();
    assert_eq!(counts, [(0, 0), (2, 0), (0, 0), (0, 2), (0, 0), (0, 0)]);
    assert_eq!(buckets[0].start, from);
    assert_eq!(buckets[5].start, from + minute * 5);
}

async fn queues_tell_their_oldest_items_age(store: &Store) {
    let before = std::time::Instant::now();
    assert!(store.queue_put("a".into(), b"1".to_vec(), 10, None).await.unwrap());
    assert!(store.queue_put("a".into(), b"2".to_vec(), 10, None).await.unwrap());
    assert!(store.queue_put("b".into(), b"1".to_vec(), 10, None).await.unwrap());
    let queues = store.queues().await.unwrap();
    let listed: Vec<(&str, u64)> = queues.iter().map(|q| (q.name.as_str(), q.length)).collect();
    assert_eq!(listed, [("a", 2), ("b", 1)]);
    // No older than the time since the first put began.
    let bound = before.elapsed();
    assert!(queues.iter().all(|q| q.oldest_age <= bound), "{queues:?} within {bound:?}");
    assert!(queues[0].oldest_age >= queues[1].oldest_age, "a's oldest was put first: {queues:?}");
}

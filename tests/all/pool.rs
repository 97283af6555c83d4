//! The pool with real worker processes: limits end jobs on time and the pool goes on,
//! dead and cancelled workers are reported and replaced.

use std::time::{Duration, Instant};

use wasmpool::job::{JobSpec, Limits, Outcome};
use wasmpool::pool::WorkerState;

use super::harness::{job, module, pool, wait_until};

fn with_timeout(timeout: Duration) -> Limits {
    Limits { timeout: Some(timeout), ..Limits::default() }
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_with_a_timeout_ends_on_time_with_its_output_and_the_pool_runs_the_next_job() {
    let (pool, _dir) = pool(1);
    let started = Instant::now();
    let spin = module(artifacts::SPIN, None);
    let done =
        pool.run(job("spin", &spin, &["started"], with_timeout(Duration::from_secs(1)))).await;
    assert_eq!(done.result.outcome, Outcome::TimedOut(Duration::from_secs(1)));
    assert_eq!(done.result.stdout, b"started\n", "output before the timeout is kept");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    let next = pool.run(job("next", &module(artifacts::HELLO, None), &[], Limits::default())).await;
    assert_eq!(next.result.outcome, Outcome::Exited(0));
    assert_eq!(next.result.stdout, b"Hello from wasmpool!\n");
    assert_eq!(
        pool.snapshot().restarts,
        1,
        "code without epoch checks is stopped by the watchdog, and its worker replaced"
    );
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_with_a_fuel_limit_and_a_timeout_ends_on_time_without_losing_its_worker() {
    let (pool, _dir) = pool(1);
    let spin = module(artifacts::SPIN, Some(1));
    let limits = Limits { fuel: Some(u64::MAX / 4), ..with_timeout(Duration::from_millis(500)) };
    let done = pool.run(job("spin", &spin, &["started"], limits)).await;
    assert_eq!(done.result.outcome, Outcome::TimedOut(Duration::from_millis(500)));
    assert_eq!(done.result.stdout, b"started\n");
    let next = pool.run(job("next", &module(artifacts::HELLO, None), &[], Limits::default())).await;
    assert_eq!(next.result.outcome, Outcome::Exited(0));
    assert_eq!(pool.snapshot().restarts, 0, "metered code checks the epoch deadline itself");
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_sent_ahead_behind_one_that_overran_run_elsewhere_and_none_is_lost() {
    let (pool, _dir) = pool(2);
    let hello = module(artifacts::HELLO, None);
    let spin = module(artifacts::SPIN, None);
    // Short jobs first, so the pool sends jobs ahead to busy workers.
    let warm = (0..200).map(|i| pool.run(job(&format!("w{i}"), &hello, &[], Limits::default())));
    for done in futures_util::future::join_all(warm).await {
        assert_eq!(done.result.outcome, Outcome::Exited(0));
    }
    let stuck = (0..2).map(|i| {
        pool.run(job(&format!("s{i}"), &spin, &[], with_timeout(Duration::from_millis(300))))
    });
    let after = (0..50).map(|i| pool.run(job(&format!("h{i}"), &hello, &[], Limits::default())));
    let (stuck, after) =
        tokio::join!(futures_util::future::join_all(stuck), futures_util::future::join_all(after));
    for done in stuck {
        assert_eq!(done.result.outcome, Outcome::TimedOut(Duration::from_millis(300)));
    }
    for done in after {
        assert_eq!(done.result.outcome, Outcome::Exited(0), "{}", done.result.id);
    }
    // Counted once the worker is gone, which may come after the other worker ran the rest.
    let replaced = wait_until(Duration::from_secs(10), || pool.snapshot().restarts == 2).await;
    assert!(replaced, "restarts: {}", pool.snapshot().restarts);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_asleep_in_wasi_ends_on_time_too() {
    let (pool, _dir) = pool(1);
    let started = Instant::now();
    let done = pool
        .run(job(
            "sleep",
            &module(artifacts::SLEEPER, None),
            &["30"],
            with_timeout(Duration::from_secs(1)),
        ))
        .await;
    assert_eq!(done.result.outcome, Outcome::TimedOut(Duration::from_secs(1)));
    assert_eq!(done.result.stdout, b"sleeping 30 s\n", "output before the timeout is kept");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    let next = pool.run(job("next", &module(artifacts::HELLO, None), &[], Limits::default())).await;
    assert_eq!(next.result.outcome, Outcome::Exited(0));
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_limit_is_named_and_peak_memory_reported() {
    let (pool, _dir) = pool(1);
    let limits = Limits { memory_bytes: 48 << 20, ..Limits::default() };
    let done = pool.run(job("hog", &module(artifacts::MEMHOG, None), &[], limits.clone())).await;
    assert_eq!(done.result.outcome, Outcome::MemoryLimit(48 << 20));
    let small = pool.run(job("small", &module(artifacts::MEMHOG, None), &["8"], limits)).await;
    assert_eq!(small.result.outcome, Outcome::Exited(0));
    assert!(small.result.peak_memory_bytes >= 8 << 20, "peak {}", small.result.peak_memory_bytes);
    assert!(small.result.peak_memory_bytes < 48 << 20, "peak {}", small.result.peak_memory_bytes);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fuel_is_metered_and_reported() {
    let (pool, _dir) = pool(1);
    let fib = module(artifacts::FIB, Some(1));
    let limits = Limits { fuel: Some(50_000_000), ..Limits::default() };
    let done = pool.run(job("fib", &fib, &["20"], limits)).await;
    assert_eq!(done.result.outcome, Outcome::Exited(0));
    let used = done.result.fuel_used.expect("metered job reports fuel");
    assert!(used > 10_000 && used < 50_000_000, "used {used}");
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkilled_worker_is_reported_and_replaced() {
    let (pool, _dir) = pool(1);
    let sleeper = module(artifacts::SLEEPER, None);
    let mut running = Box::pin(pool.run(job("victim", &sleeper, &["30"], Limits::default())));
    let mut victim = 0;
    let busy = tokio::select! {
        _ = &mut running => panic!("the job ended before it was killed"),
        busy = wait_until(Duration::from_secs(10), || {
            let snapshot = pool.snapshot();
            match &snapshot.workers[0].state {
                WorkerState::Busy { job_id, .. } if job_id == "victim" => { victim = snapshot.workers[0].pid; true }
                _ => false,
            }
        }) => busy,
    };
    assert!(busy, "the job reached a worker");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(victim as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let done = running.await;
    match &done.result.outcome {
        Outcome::WorkerDied(cause) => assert!(cause.contains("signal 9 (SIGKILL)"), "{cause}"),
        other => panic!("expected a dead worker, got {other:?}"),
    }
    assert_eq!(done.worker_pid, victim);
    let next =
        pool.run(job("after", &module(artifacts::HELLO, None), &[], Limits::default())).await;
    assert_eq!(next.result.outcome, Outcome::Exited(0));
    assert_ne!(next.worker_pid, victim, "a new worker took the dead one's place");
    let snapshot = pool.snapshot();
    assert_eq!(snapshot.restarts, 1);
    assert_eq!(snapshot.workers.len(), 1);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_running_job_kills_its_worker() {
    let (pool, _dir) = pool(2);
    let sleeper = module(artifacts::SLEEPER, None);
    let cancel = tokio_util::sync::CancellationToken::new();
    let doomed = job("doomed", &sleeper, &["30"], Limits::default());
    let mut running = Box::pin(pool.reserve().await.run_cancellable(doomed, cancel.clone()));
    let reached = tokio::select! {
        _ = &mut running => panic!("the job ended by itself"),
        reached = wait_until(Duration::from_secs(10), || pool.snapshot().workers.iter().any(|w| matches!(&w.state, WorkerState::Busy { job_id, .. } if job_id == "doomed"))) => reached,
    };
    assert!(reached);
    cancel.cancel();
    let done = running.await;
    assert_eq!(done.result.outcome, Outcome::Cancelled);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let snapshot = pool.snapshot();
            snapshot.restarts == 1
                && snapshot
                    .workers
                    .iter()
                    .all(|w| w.state == WorkerState::Idle && w.pid != done.worker_pid)
        })
        .await,
        "the pool returns to two idle workers: {:?}",
        pool.snapshot()
    );
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn guests_see_their_job_id_and_worker_pid_when_the_job_asks() {
    let (pool, _dir) = pool(1);
    let probe = module(artifacts::PROBE, None);
    let asked = JobSpec { job_env: true, ..job("job-42", &probe, &["env"], Limits::default()) };
    let done = pool.run(asked).await;
    let text = String::from_utf8_lossy(&done.result.stdout).into_owned();
    assert!(text.contains("WASMPOOL_JOB_ID=job-42\n"), "{text}");
    assert!(text.contains(&format!("WASMPOOL_WORKER_PID={}\n", done.worker_pid)), "{text}");
    let plain = pool.run(job("job-43", &probe, &["env"], Limits::default())).await;
    assert_eq!(plain.result.stdout, b"", "no variables were given");
    pool.shutdown().await;
}

/// Runs `count` hello jobs at once, named `{prefix}{n}`, and returns how each ended.
async fn hellos(
    pool: &wasmpool::pool::Pool,
    prefix: &str,
    count: usize,
) -> Vec<wasmpool::job::Completed> {
    let hello = module(artifacts::HELLO, None);
    let jobs =
        (0..count).map(|n| pool.run(job(&format!("{prefix}{n}"), &hello, &[], Limits::default())));
    futures_util::future::join_all(jobs).await
}

/// Runs short jobs until the pool knows jobs are short, so that it sends jobs ahead.
async fn warm_up(pool: &wasmpool::pool::Pool) {
    let warm = hellos(pool, "warm", 100).await;
    assert!(warm.iter().all(|done| done.result.outcome == Outcome::Exited(0)));
}

/// Short jobs are sent to workers ahead of the one they run; a worker killed with jobs
/// waiting behind its job loses none of them: they run on the next worker.
#[tokio::test(flavor = "multi_thread")]
async fn jobs_sent_ahead_to_a_worker_that_dies_run_elsewhere() {
    let (pool, _dir) = pool(2);
    warm_up(&pool).await;
    let pids: Vec<u32> = pool.snapshot().workers.iter().map(|worker| worker.pid).collect();
    let (all, ()) = tokio::join!(hellos(&pool, "job", 2000), async {
        // Once the flood is under way, kill one worker in the middle of it.
        let busy = wait_until(Duration::from_secs(10), || {
            pool.snapshot().workers.iter().any(|worker| matches!(&worker.state, WorkerState::Busy { job_id, .. } if job_id.starts_with("job")))
        })
        .await;
        assert!(busy, "the jobs reached the workers");
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(pids[0] as i32).unwrap(),
            rustix::process::Signal::KILL,
        )
        .unwrap();
    });
    let died: Vec<_> =
        all.iter().filter(|done| done.result.outcome != Outcome::Exited(0)).collect();
    assert!(
        died.len() <= 1,
        "only the job running when its worker died may fail: {:?}",
        died.iter().map(|done| (&done.result.id, &done.result.outcome)).collect::<Vec<_>>()
    );
    if let Some(done) = died.first() {
        assert!(
            matches!(&done.result.outcome, Outcome::WorkerDied(cause) if cause.contains("SIGKILL")),
            "{:?}",
            done.result.outcome
        );
    }
    pool.shutdown().await;
}

/// A job sent ahead to a worker whose job then runs long is taken back and started by the
/// first free worker: it does not wait for the long job (the seeds' `long-time-task` rule).
#[tokio::test(flavor = "multi_thread")]
async fn a_job_sent_ahead_of_a_long_one_runs_on_the_free_worker() {
    let (pool, _dir) = pool(2);
    warm_up(&pool).await;
    let sleeper = module(artifacts::SLEEPER, None);
    // Both workers busy with short jobs, then one long job among them, then more short ones:
    // whichever worker takes the long one has short ones sent ahead behind it.
    let (before, long, after) = tokio::join!(
        hellos(&pool, "before", 200),
        async {
            tokio::task::yield_now().await;
            pool.run(job("long", &sleeper, &["2"], Limits::default())).await
        },
        async {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            hellos(&pool, "after", 200).await
        },
    );
    assert_eq!(long.result.outcome, Outcome::Exited(0));
    for done in before.iter().chain(&after) {
        assert_eq!(done.result.outcome, Outcome::Exited(0));
        assert!(
            done.finished_at < long.finished_at,
            "{} waited for the long job (it ended {:?} after it)",
            done.result.id,
            done.finished_at.duration_since(long.finished_at).unwrap_or_default()
        );
    }
    pool.shutdown().await;
}

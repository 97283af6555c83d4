//! Nothing accepted is lost: a SIGKILLed host restarts and ends every job; SIGTERM drains.

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::{alive, children, wait_until};
use super::server::Server;
use wasmpool::job::ModuleKind;
use wasmpool::store::{Location, NewJob, Store};

use super::conformance;

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkilled_host_restarts_and_ends_every_job() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    server.upload(artifacts::HELLO, "hello").await;
    // Two running jobs: one may retry, one may not.
    let retried =
        server.submit(json!({ "module": "sleeper", "args": ["1"], "max_attempts": 2 })).await;
    let failed = server.submit(json!({ "module": "sleeper", "args": ["1"] })).await;
    server.wait_for_start(retried).await;
    server.wait_for_start(failed).await;
    // Fifty queued behind them.
    let jobs: Vec<Value> = (0..50).map(|_| Server::job("hello", &[])).collect();
    let queued = server.submit_batch(jobs).await;
    let (_, pool) = server.get("/v1/pool").await;
    assert_eq!(pool["counts"]["running"], 2, "{pool}");
    assert_eq!(pool["counts"]["queued"], 50, "{pool}");

    let workers = children(server.pid());
    server.kill();
    assert!(
        wait_until(Duration::from_secs(10), || workers.iter().all(|&pid| !alive(pid))).await,
        "no orphaned workers"
    );

    let server = Server::start(2, data.path(), &[]);
    for id in &queued {
        let job = server.wait(*id).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["attempts"], 1, "a queued job ran once: {job}");
    }
    let job = server.wait(retried).await;
    assert_eq!(
        (job["state"].as_str(), job["attempts"].as_u64()),
        (Some("succeeded"), Some(2)),
        "{job}"
    );
    let job = server.wait(failed).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["attempts"], 1);
    assert!(
        job["error"].as_str().unwrap().contains("host stopped while the job was running"),
        "{job}"
    );
    let (_, pool) = server.get("/v1/pool").await;
    assert_eq!(pool["counts"]["succeeded"], 51, "{pool}");
}

/// The dispatcher claims jobs a little ahead of its workers. If the host dies, a claimed job
/// whose start on a worker was never recorded goes back to the queue as if never claimed;
/// only one that had started counts the attempt (and, with none left, fails with the reason).
#[tokio::test(flavor = "multi_thread")]
async fn claimed_jobs_that_never_started_are_queued_again_uncounted_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wasmpool.db");
    let location = Location::Sqlite(path);
    let store = Store::open(&location, &conformance::node("a")).await.unwrap();
    let hash = "ab".repeat(32);
    store.put_module(hash.clone(), ModuleKind::Module, b"\0", None).await.unwrap();
    let job = NewJob { module_hash: hash, max_attempts: 1, timeout_ms: 1000, ..NewJob::default() };
    store.submit(vec![job; 3]).await.unwrap();
    let claimed = store.finish_and_claim(Vec::new(), Vec::new(), "default", 3).await.unwrap();
    let ids: Vec<i64> = claimed.jobs.iter().map(|job| job.id).collect();
    assert_eq!(ids.len(), 3);
    // Only the first reached a worker before the host died.
    let now = std::time::SystemTime::now();
    store
        .finish_and_claim(vec![(claimed.jobs[0].attempt(), now)], Vec::new(), "default", 0)
        .await
        .unwrap();
    drop(store);

    let store = Store::open(&location, &conformance::node("a")).await.unwrap();
    let recovered = store.recover().await.unwrap();
    assert_eq!((recovered.released, recovered.requeued, recovered.failed), (2, 0, 1));
    let started = store.job(ids[0]).await.unwrap().unwrap();
    assert_eq!(started.state.as_str(), "failed");
    assert!(started.error.unwrap().contains("host stopped while the job was running"));
    for &id in &ids[1..] {
        let job = store.job(id).await.unwrap().unwrap();
        assert_eq!((job.state.as_str(), job.attempts, job.error), ("queued", 0, None), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_running_jobs_and_keeps_the_queue() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--drain-timeout", "20s"]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    server.upload(artifacts::HELLO, "hello").await;
    let running = server.submit(json!({ "module": "sleeper", "args": ["1"] })).await;
    server.wait_for_state(running, "running").await;
    let queued = server.submit(Server::job("hello", &[])).await;

    let url = server.url.clone();
    server.signal_terminate();
    let client = reqwest::Client::new();
    let mut refused = None;
    for _ in 0..400 {
        let response =
            client.post(format!("{url}/v1/jobs")).json(&Server::job("hello", &[])).send().await;
        match response {
            Ok(response) if response.status() == 503 => {
                refused = Some(response.json::<Value>().await.unwrap());
                break;
            }
            Ok(response) => assert_eq!(response.status(), 202),
            Err(_) => break,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused = refused.expect("a submission during the drain gets 503");
    assert_eq!(refused["error"]["code"], "unavailable");
    assert!(server.wait_exit().success(), "the drained server exits 0");

    let server = Server::start(1, data.path(), &["--drain-timeout", "20s"]);
    let (_, job) = server.get(&format!("/v1/jobs/{running}")).await;
    assert_eq!(job["state"], "succeeded", "the running job finished during the drain: {job}");
    let job = server.wait(queued).await;
    assert_eq!(
        (job["state"].as_str(), job["attempts"].as_u64()),
        (Some("succeeded"), Some(1)),
        "{job}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_outlasting_the_drain_is_stopped_and_left_queued() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--drain-timeout", "300ms"]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let id = server.submit(json!({ "module": "sleeper", "args": ["2"] })).await;
    server.wait_for_state(id, "running").await;
    assert!(server.terminate().success());

    let restarted = std::time::SystemTime::now();
    let server = Server::start(1, data.path(), &[]);
    let job = server.wait(id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let started = humantime::parse_rfc3339(job["started_at"].as_str().unwrap()).unwrap();
    assert!(started > restarted, "the job ran again after the restart: {job}");
    assert_eq!(job["attempts"], 1, "the stopped attempt was not counted: {job}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ended_jobs_are_purged_after_the_retention_period() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let ended = server.submit(Server::job("hello", &[])).await;
    server.wait(ended).await;
    server.post("/v1/pool/pause", json!({})).await;
    let queued = server.submit(Server::job("hello", &[])).await;
    assert!(server.terminate().success());

    let server = Server::start(1, data.path(), &["--keep", "1ms"]);
    assert_eq!(server.get(&format!("/v1/jobs/{ended}")).await.0, 404, "the ended job was purged");
    let job = server.wait(queued).await;
    assert_eq!(job["state"], "succeeded", "queued jobs are never purged: {job}");
    let (_, pool) = server.get("/v1/pool").await;
    assert_eq!(pool["counts"]["succeeded"], 1, "the counts forgot the purged job: {pool}");
}

/// A tmpfs mounted over a fresh directory (root only), unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` when this process may not mount (not root): the caller says so and skips.
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=700"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then_some(SmallDisk { dir })
    }

    /// Fills the disk with a ballast file until writes fail; returns the file.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("ballast");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 << 10];
        while file.write_all(&chunk).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// A full disk makes the store's writes fail while jobs end. Those ends must not be dropped:
/// the dispatcher keeps them and records them once there is room again, so every job ends
/// with its real result (before, they stayed `running` for ever, idle workers beside them).
///
/// The two jobs that end on the full disk each write 2 MB of output, which the log cannot
/// take in the room a checkpointed WAL leaves free (a job without output can end in it, so the
/// disk would hold nothing up); they sleep first, so the disk is full before they end. The
/// jobs queued behind them are small and must all end too.
#[tokio::test(flavor = "multi_thread")]
async fn jobs_that_end_while_the_disk_is_full_are_recorded_once_it_has_room() {
    let Some(disk) = SmallDisk::mount("48m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let data = disk.dir.path().join("data");
    let server = Server::start(2, &data, &[]);
    server.upload(artifacts::PROBE, "probe").await;
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let flood = |_| json!({ "module": "probe", "args": ["flood", "1000000", "3"] });
    let mut jobs: Vec<Value> = (0..2).map(flood).collect();
    jobs.extend(
        (0..20).map(|i| json!({ "module": "sleeper", "args": [format!("0.0{}", i % 10)] })),
    );
    let ids = server.submit_batch(jobs).await;
    server.wait_for_start(ids[0]).await;
    server.wait_for_start(ids[1]).await;
    let ballast = disk.fill();
    // With the disk full, the flooding jobs end but cannot be recorded: wait until both
    // workers are idle with jobs still `running` in the store.
    let mut stuck = false;
    for _ in 0..1200 {
        let (_, pool) = server.get("/v1/pool").await;
        let idle = pool["workers"].as_array().unwrap().iter().all(|w| w["state"] == "idle");
        if idle && pool["counts"]["running"].as_u64().unwrap_or(0) > 0 {
            stuck = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(stuck, "the full disk never held up a job's end");
    // A submission meanwhile is refused with the reason, not a 500 (one with 512 KB of stdin:
    // a small one may still fit in the log's free room).
    let stdin = "x".repeat(512 << 10);
    let big = json!({ "module": "sleeper", "args": ["0"], "stdin": stdin });
    let (status, body) = server.post("/v1/jobs", big).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (507, Some("insufficient_storage")),
        "{body}"
    );
    std::fs::remove_file(ballast).unwrap();
    for (i, id) in ids.into_iter().enumerate() {
        let job = server.wait(id).await;
        assert_eq!(
            (job["state"].as_str(), job["exit_code"].as_i64()),
            (Some("succeeded"), Some(0)),
            "{job}"
        );
        if i < 2 {
            assert_eq!(job["stdout"].as_str().map(str::len), Some(1_000_000), "job {id}");
        }
    }
}

/// Ctrl-C at the terminal of `serve` is SIGINT to its whole foreground process group. The
/// workers lead sessions of their own, so only the host gets it, and drains: the running job
/// finishes (before, the workers got it too and every running job died with them).
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_at_the_terminal_drains_instead_of_killing_the_jobs() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_in_group(1, data.path(), &["--drain-timeout", "20s"]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let id = server.submit(json!({ "module": "sleeper", "args": ["1"] })).await;
    server.wait_for_start(id).await;
    server.interrupt_group();
    let status = server.wait_exit();
    assert!(status.success(), "{status:?}");
    // Read the result from the database with a fresh server.
    let server = Server::start(1, data.path(), &[]);
    let job = server.wait(id).await;
    assert_eq!(
        (job["state"].as_str(), job["attempts"].as_u64()),
        (Some("succeeded"), Some(1)),
        "{job}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_says_draining_during_a_drain() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--drain-timeout", "5s"]);
    server.upload(artifacts::SLEEPER, "sleeper").await;
    let running = server.submit(json!({ "module": "sleeper", "args": ["60"] })).await;
    server.wait_for_state(running, "running").await;
    assert_eq!(server.get("/healthz").await, (200, json!({ "status": "ok" })));

    server.signal_terminate();
    let mut health = (200, Value::Null);
    for _ in 0..400 {
        health = server.get("/healthz").await;
        if health.0 != 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(health, (503, json!({ "status": "draining" })), "/healthz while draining");
    assert!(server.wait_exit().success(), "the drained server exits 0");
}

/// `serve 2>&1 | tee log`, then Ctrl-C: the signal reaches tee too, and the service is left
/// writing to a pipe nobody reads. It must still drain and exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_stderr_does_not_wedge_the_shutdown() {
    use std::io::BufRead;
    let data = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(super::harness::WASMPOOL)
        .args(Server::serve_args(1, data.path(), &[]))
        .env_remove("WASMPOOL_TOKEN")
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wasmpool serve starts");
    drop(child.stderr.take()); // the reader is gone: every write to stderr fails (EPIPE)
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    drop(stdout); // and stdout too
    let url = line
        .trim()
        .strip_prefix("wasmpool listening on ")
        .unwrap_or_else(|| panic!("not the listening line: {line:?} ({:?})", child.try_wait()));
    let client = reqwest::Client::new();
    let health = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let hello = std::fs::read(artifacts::HELLO).unwrap();
    let upload = client
        .post(format!("{url}/v1/modules?name=hello"))
        .header("content-type", "application/wasm")
        .body(hello)
        .send()
        .await
        .unwrap();
    assert!(upload.status().is_success());

    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let exited = wait_until(Duration::from_secs(30), || child.try_wait().unwrap().is_some()).await;
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not stop within 30 s of SIGINT with its stderr closed");
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "the drained server exits 0: {status}");
}

/// `--sync off` answers before the disk has the change, but the change is in the database's
/// log, which the operating system holds: a SIGKILL of the service loses nothing accepted.
#[tokio::test(flavor = "multi_thread")]
async fn sync_off_keeps_accepted_jobs_across_a_sigkill_of_the_service() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &["--sync", "off"]);
    server.upload(artifacts::HELLO, "hello").await;
    let (status, _) = server.post("/v1/pool/pause", json!({})).await;
    assert_eq!(status, 200);
    let mut accepted = Vec::new();
    for _ in 0..20 {
        accepted.push(server.submit(Server::job("hello", &[])).await);
    }
    accepted
        .extend(server.submit_batch((0..50).map(|_| Server::job("hello", &[])).collect()).await);
    server.kill();

    let server = Server::start(2, data.path(), &["--sync", "off"]);
    let (status, _) = server.post("/v1/pool/resume", json!({})).await;
    assert_eq!(status, 200);
    for id in &accepted {
        let job = server.wait(*id).await;
        assert_eq!(job["state"], "succeeded", "{job}");
    }
    let (_, pool) = server.get("/v1/pool").await;
    assert_eq!(pool["counts"]["succeeded"], 70, "{pool}");
}

/// What `--sync` changes: with `on` every answered submission waited for a sync of the
/// database's log; with `off` none did, but for the log's header when a commit starts the log
/// over after a checkpoint (SQLite syncs it then, so stale frames never count as new ones):
/// at most once per checkpoint, not once per submission. Counted with `strace` attached to
/// the service (skipped, saying so, where strace is missing or cannot attach); the checkpoint
/// thread's own syncs, which no answer waits for, are counted apart.
#[tokio::test(flavor = "multi_thread")]
async fn sync_on_syncs_every_submission_and_sync_off_none() {
    let on = syncs_during_submissions("on").await;
    let off = syncs_during_submissions("off").await;
    let (Some((on, _)), Some((off, checkpoints))) = (on, off) else {
        eprintln!("skipped: strace is missing or cannot attach to the service");
        return;
    };
    assert!(on >= SUBMISSIONS, "--sync on: {on} syncs for {SUBMISSIONS} submissions");
    // Each start of the log over follows a checkpoint: one seen here, or the one that may
    // have finished just before strace attached.
    assert!(
        off <= checkpoints + 1 && off < SUBMISSIONS,
        "--sync off: {off} syncs for {SUBMISSIONS} submissions ({checkpoints} by checkpoints)"
    );
}

const SUBMISSIONS: usize = 10;

/// `fsync`/`fdatasync` calls the service makes while answering [`SUBMISSIONS`] submissions
/// one at a time, with the pool paused (so only the submissions write): those of every thread
/// but the checkpoint thread, and those of the checkpoint thread; `None` without strace.
async fn syncs_during_submissions(sync: &str) -> Option<(usize, usize)> {
    use std::io::BufRead;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--sync", sync]);
    server.upload(artifacts::HELLO, "hello").await;
    let (status, _) = server.post("/v1/pool/pause", json!({})).await;
    assert_eq!(status, 200);
    let trace = data.path().join("strace.out");
    let mut strace = std::process::Command::new("strace")
        .args(["-f", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&trace)
        .args(["-p", &server.pid().to_string()])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    // strace says "attached" on stderr once it traces every thread.
    let stderr = strace.stderr.take().expect("piped");
    let (said, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = said.send(line);
        }
    });
    let attached =
        heard.recv_timeout(Duration::from_secs(10)).is_ok_and(|line| line.contains("attached"));
    if !attached {
        let _ = strace.kill();
        let _ = strace.wait();
        return None;
    }
    for _ in 0..SUBMISSIONS {
        server.submit(Server::job("hello", &[])).await;
    }
    // SIGINT: strace detaches and writes out what it saw.
    let pid = rustix::process::Pid::from_raw(strace.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let _ = strace.wait();
    let trace = std::fs::read_to_string(&trace).expect("strace's output");
    let checkpoints = thread_named(server.pid(), "wal-checkpoint").expect("a checkpoint thread");
    let by_checkpoints = format!("{checkpoints} ");
    let syncs = trace.lines().filter(|line| line.contains("sync("));
    let (checkpoint, other): (Vec<&str>, Vec<&str>) =
        syncs.partition(|line| line.starts_with(&by_checkpoints));
    Some((other.len(), checkpoint.len()))
}

/// The id of the thread of process `pid` named `name`.
fn thread_named(pid: u32, name: &str) -> Option<String> {
    std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten().find_map(|task| {
        let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
        (comm.trim() == name).then(|| task.file_name().to_string_lossy().into_owned())
    })
}

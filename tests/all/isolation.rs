//! Worker processes are isolated: empty environment, only their channel as descriptors, a
//! working directory of their own, and they die with the host even when it is SIGKILLed.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use super::harness::{alive, children, pool, wait_until, wasmpool};

#[tokio::test(flavor = "multi_thread")]
async fn workers_start_with_nothing_inherited() {
    let (pool, dir) = pool(2);
    assert!(
        wait_until(Duration::from_secs(10), || pool.snapshot().workers.iter().all(|w| w.pid != 0))
            .await,
        "workers started"
    );
    let mut cwds = HashSet::new();
    for worker in pool.snapshot().workers {
        let pid = worker.pid;
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(
            environ.is_empty(),
            "worker {pid} environment: {:?}",
            String::from_utf8_lossy(&environ)
        );

        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
        assert!(cwd.starts_with(dir.path().canonicalize().unwrap()), "worker {pid} cwd {cwd:?}");
        cwds.insert(cwd);

        // A descriptor is inherited if it names an object this (the host's) process also
        // holds; the only ones allowed are the three pipes of the channel and stderr. (Its
        // stdin is a /dev/null of its own, which may share a name with the host's.)
        // Anonymous inodes (epoll, eventfd) are named by kind only, so they cannot be told apart.
        let mut host = fd_targets("self");
        host.retain(|target| target != "/dev/null" && !target.starts_with("anon_inode:"));
        let shared: HashSet<String> =
            fd_targets(&pid.to_string()).intersection(&host).cloned().collect();
        let pipes: HashSet<&String> = shared.iter().filter(|t| t.starts_with("pipe:")).collect();
        assert_eq!(
            shared.len(),
            pipes.len(),
            "worker {pid} shares more than pipes with its host: {shared:?}"
        );
        assert_eq!(
            pipes.len(),
            3,
            "worker {pid}: channel in, channel out and stderr only: {pipes:?}"
        );
    }
    assert_eq!(cwds.len(), 2, "each worker has a working directory of its own");
    pool.shutdown().await;
}

fn fd_targets(pid: &str) -> HashSet<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_worker_outlives_a_sigkilled_host() {
    let mut host = wasmpool(&["map", "-w", "3", artifacts::SLEEPER, "30", "30", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("host starts");
    let host_pid = host.id();
    let mut workers = Vec::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            workers = children(host_pid);
            workers.len() == 3
        })
        .await,
        "three workers started: {workers:?}"
    );
    host.kill().expect("SIGKILL the host");
    host.wait().expect("host reaped");
    assert!(
        wait_until(Duration::from_secs(10), || workers.iter().all(|&pid| !alive(pid))).await,
        "workers still alive after their host died: {:?}",
        workers.iter().filter(|&&pid| alive(pid)).collect::<Vec<_>>()
    );
}

/// A worker gives up what a wasmtime escape could use: no capabilities (even when the host
/// runs as root), no new privileges, a seccomp filter, no core dumps, a session of its own.
#[tokio::test(flavor = "multi_thread")]
async fn workers_run_confined() {
    let (pool, _dir) = super::harness::pool(1);
    let module = super::harness::module(artifacts::HELLO, None);
    let spec = super::harness::job("1", &module, &[], wasmpool::job::Limits::default());
    pool.reserve().await.run(spec).await;
    let pid = pool.snapshot().workers[0].pid;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status.lines().find_map(|line| line.strip_prefix(name)).map(str::trim).unwrap_or("?")
    };
    assert_eq!(field("Seccomp:"), "2", "filter mode");
    assert_eq!(field("NoNewPrivs:"), "1");
    assert_eq!(field("CapEff:"), "0000000000000000");
    assert_eq!(field("CapPrm:"), "0000000000000000");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits.lines().find(|line| line.starts_with("Max core file size")).unwrap();
    assert!(core.split_whitespace().filter(|word| *word == "0").count() == 2, "{core}");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let session: u32 =
        stat.rsplit(')').next().unwrap().split_whitespace().nth(3).unwrap().parse().unwrap();
    assert_eq!(session, pid, "the worker leads a session of its own");
}

/// A system call outside the filter kills the process that made it (with SIGSYS), nothing
/// else. A guest cannot make one, so the worker's hidden test hook does.
#[test]
fn a_forbidden_system_call_kills_the_worker() {
    use std::os::unix::process::ExitStatusExt;
    let output = super::harness::output(&[
        "worker",
        "--parent-pid",
        &std::process::id().to_string(),
        "--try-forbidden-syscall",
    ]);
    assert_eq!(output.status.signal(), Some(31), "{output:?}");
}

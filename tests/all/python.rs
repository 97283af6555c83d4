//! Python tasks: the seeds in Python (`examples/python/`), each built by the real
//! `wasmpool build` with componentize-py and run by the real binary (`map`, `run`, `serve`).
//!
//! componentize-py comes from `WASMPOOL_COMPONENTIZE_PY`, else the virtualenv `.ci/setup`
//! makes (`.venv/`). Without it these tests fail under CI (`CI` set), so a broken setup
//! cannot pass as a skip; elsewhere they say so and skip.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::harness::{output_with_stdin, stderr, stdout, wasmpool};
use super::server::Server;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// componentize-py, or `None` (after saying why) when a test may skip without it.
pub fn componentize_py() -> Option<PathBuf> {
    let path = std::env::var_os("WASMPOOL_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(REPO).join(".venv/bin/componentize-py"));
    if path.is_file() {
        return Some(path);
    }
    let message = format!(
        "componentize-py not found at {} (run .ci/setup, or set WASMPOOL_COMPONENTIZE_PY)",
        path.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("skipped: {message}");
    None
}

/// The component of `examples/python/NAME.py`, built once per test run (and kept between
/// runs, keyed by the hash of the examples and the shipped WIT: a build takes ~15–30 s).
pub fn example(name: &str) -> Option<PathBuf> {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let tool = componentize_py()?;
    // One build at a time: each takes both cores.
    let mut built = BUILT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(path) = built.get(name) {
        return Some(path.clone());
    }
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-examples").join(sources_hash());
    let path = dir.join(format!("{name}.wasm"));
    if !path.is_file() {
        std::fs::create_dir_all(&dir).expect("cache dir");
        let partial = dir.join(format!("{name}.wasm.partial"));
        let source = Path::new(REPO).join("examples/python").join(format!("{name}.py"));
        let out = build(&tool, &[source.as_os_str(), "-o".as_ref(), partial.as_os_str()]);
        assert_eq!(out.status.code(), Some(0), "build {name}: {}", stderr(&out));
        std::fs::rename(&partial, &path).expect("rename");
    }
    built.insert(name.to_string(), path.clone());
    Some(path)
}

/// `wasmpool build ARGS` with this componentize-py and no virtualenv of the caller's.
fn build(tool: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let mut command = wasmpool(&["build"]);
    command.args(args).env("WASMPOOL_COMPONENTIZE_PY", tool).env_remove("VIRTUAL_ENV");
    command.output().expect("wasmpool build runs")
}

/// SHA-256 over the examples and the WIT they are built against.
fn sources_hash() -> String {
    let mut files: Vec<PathBuf> =
        ["examples/python", "examples/python/mathlib", "wit", "wit/python", "wit/python/deps"]
            .iter()
            .flat_map(|dir| std::fs::read_dir(Path::new(REPO).join(dir)).expect("dir"))
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.is_file())
            .collect();
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        hash.update(file.to_string_lossy().as_bytes());
        hash.update(std::fs::read(&file).expect("read"));
    }
    hex::encode(&hash.finalize()[..8])
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The seeds' `Pool(4)` demo in Python: five tasks on four worker processes, the fifth
/// waiting for a free one, each printing its task number and its worker's pid.
#[test]
fn the_pool_demo_in_python_runs_five_tasks_on_four_workers() {
    let Some(task) = example("long_time_task") else { return };
    let out = wasmpool(&["map", "-w", "4", "--json", "--job-env"])
        .args(["--env", "LONG_TIME_TASK_MAX_MS=1500", path_str(&task), "0", "1", "2", "3", "4"])
        .output()
        .expect("map runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut jobs: Vec<Value> =
        stdout(&out).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let time = |job: &Value, field: &str| humantime::parse_rfc3339(job[field].as_str().unwrap());
    jobs.sort_by_key(|job| time(job, "started_at").unwrap());
    let first_finish = jobs[..4].iter().map(|job| time(job, "finished_at").unwrap()).min();
    assert!(
        time(&jobs[4], "started_at").unwrap() >= first_finish.unwrap(),
        "the fifth job did not wait for a free worker"
    );
    let pids: std::collections::HashSet<u64> =
        jobs.iter().map(|job| job["worker_pid"].as_u64().unwrap()).collect();
    assert_eq!(pids.len(), 4, "four worker processes ran the five jobs");
    for job in &jobs {
        let (index, pid) = (job["index"].as_u64().unwrap(), job["worker_pid"].as_u64().unwrap());
        let text = job["stdout"].as_str().unwrap();
        let head = format!("Run task {index} ({pid})...\nTask {index} runs ");
        assert!(text.starts_with(&head) && text.ends_with(" seconds.\n"), "{text}");
    }
}

/// The seeds' `subprocess` example: commands in on stdin, answers out on stdout, and the
/// exit code (0, or 1 when a name was not found).
#[test]
fn the_subprocess_example_in_python_takes_stdin_and_gives_stdout_and_exit_code() {
    let Some(task) = example("lookup") else { return };
    let out =
        output_with_stdin(wasmpool(&["run", path_str(&task)]), b"set q=mx\npython.org\nexit\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "python.org\tmail exchanger = 50 mail.python.org.\n");
    let out = output_with_stdin(wasmpool(&["run", path_str(&task)]), b"python.org\nnope.example\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "python.org\taddress = 151.101.192.223\n** server can't find nope.example: NXDOMAIN\n"
    );
}

/// The seeds' `Queue` pair as two Python jobs on a service: uploaded (an 18 MB component
/// each, compiled by the out-of-process compiler under the default limits), then the writer
/// puts A, B, C through the `wasmpool:task` queue and the reader gets them, in order.
#[tokio::test(flavor = "multi_thread")]
async fn the_queue_pair_in_python_talks_through_a_served_queue() {
    let (Some(writer), Some(reader)) = (example("queue_writer"), example("queue_reader")) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(path_str(&writer), "queue-writer").await;
    server.upload(path_str(&reader), "queue-reader").await;
    let reader = server.submit(json!({ "module": "queue-reader", "args": ["letters"] })).await;
    let writer = json!({ "module": "queue-writer", "args": ["letters"],
        "env": { "QUEUE_WRITER_MAX_PAUSE": "0.2" } });
    let writer = server.wait(server.submit(writer).await).await;
    let reader = server.wait(reader).await;
    assert_eq!(writer["state"], "succeeded", "{writer}");
    assert_eq!(reader["state"], "succeeded", "{reader}");
    let wrote: Vec<&str> = writer["stdout"].as_str().unwrap().lines().skip(1).collect();
    assert_eq!(wrote, ["Put A to queue...", "Put B to queue...", "Put C to queue..."]);
    let read: Vec<&str> = reader["stdout"].as_str().unwrap().lines().skip(1).collect();
    assert_eq!(read, ["Get A from queue.", "Get B from queue.", "Get C from queue."]);
    assert!(reader["stdout"].as_str().unwrap().starts_with("Process to read: 42\n"), "{reader}");
    assert_eq!(writer["progress"]["percent"], 100, "the writer's progress: {writer}");
}

/// A Python task reads its parents' results through `wasmpool:task/workflow` (the world
/// `wasmpool build` targets includes it).
#[tokio::test(flavor = "multi_thread")]
async fn a_python_task_reads_its_parents() {
    let Some(parents) = example("parents") else { return };
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    server.upload(path_str(&parents), "parents").await;
    let ids = server
        .submit_batch(vec![
            json!({ "name": "greet", "module": "hello" }),
            json!({ "name": "reader", "module": "parents", "after": ["greet"] }),
        ])
        .await;
    let reader = server.wait(ids[1]).await;
    assert_eq!(reader["state"], "succeeded", "{reader}");
    assert_eq!(reader["stdout"], "greet succeeded Hello from wasmpool!\n", "{reader}");
}

/// The seeds' distributed example (`BaseManager`): the master (`task_master.py`, an ordinary
/// Python program using the client) puts ten numbers on a queue through one host and reads
/// the squares through it; the workers (`task_worker.py`, a task) are jobs submitted through
/// a second host; both hosts share one PostgreSQL, which holds the queues.
#[tokio::test(flavor = "multi_thread")]
async fn the_managers_example_runs_master_and_workers_on_two_hosts_sharing_postgresql() {
    let Some(python) = super::python_client::python() else { return };
    let Some(worker) = example("task_worker") else { return };
    let url = super::postgres::shared().database();
    let (master_host, _a) = super::cluster::host(&url, "master-host", 1, &[]);
    let (worker_host, _b) = super::cluster::host(&url, "worker-host", 1, &[]);
    worker_host.upload(path_str(&worker), "task_worker").await;
    let master = std::process::Command::new(python)
        .arg(Path::new(REPO).join("examples/python/task_master.py"))
        .arg(&master_host.url)
        .env("PYTHONPATH", Path::new(REPO).join("clients/python/src"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    let workers: Vec<Value> = (0..2)
        .map(|_| json!({ "module": "task_worker", "args": ["tasks", "results", "5"] }))
        .collect();
    let workers = worker_host.submit_batch(workers).await;
    let master = tokio::task::spawn_blocking(move || master.wait_with_output()).await.unwrap();
    let master = master.expect("the master ends");
    assert_eq!(master.status.code(), Some(0), "{}\n{}", stdout(&master), stderr(&master));
    let printed = stdout(&master);
    let put: Vec<u64> = printed
        .lines()
        .filter_map(|line| line.strip_prefix("Put task ")?.strip_suffix("...")?.parse().ok())
        .collect();
    let mut got: Vec<String> = printed
        .lines()
        .filter_map(|line| line.strip_prefix("Result: "))
        .map(String::from)
        .collect();
    let mut want: Vec<String> = put.iter().map(|n| format!("{n} * {n} = {}", n * n)).collect();
    got.sort();
    want.sort();
    assert_eq!((put.len(), got), (10, want), "{printed}");
    // Every task was done once, by the worker jobs, whichever host ran them.
    let mut done = 0;
    for id in workers {
        let job = master_host.wait(id).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        done +=
            job["stdout"].as_str().unwrap().lines().filter(|l| l.starts_with("run task")).count();
    }
    assert_eq!(done, 10);
}

/// The seeds' `Pool(4)` demo with its task a plain Python function
/// (`examples/python/pool_functions.py`): the seed's code with `from wasmpool import Pool`,
/// each call in a sandbox of its own on a service with four workers, each result back in the
/// parent's callback. The runner is built by `wasmpool build` on first use.
#[tokio::test(flavor = "multi_thread")]
async fn the_pool_demo_runs_with_its_task_a_plain_function() {
    let (Some(python), Some(tool)) = (super::python_client::python(), componentize_py()) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(4, data.path(), &[]);
    let demo = std::process::Command::new(python)
        .arg(Path::new(REPO).join("examples/python/pool_functions.py"))
        .env("WASMPOOL_SERVER", &server.url)
        .env("WASMPOOL_BIN", super::harness::WASMPOOL)
        .env("WASMPOOL_COMPONENTIZE_PY", tool)
        .env("XDG_CACHE_HOME", Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-client-cache"))
        .env("PYTHONPATH", Path::new(REPO).join("clients/python/src"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("WASMPOOL_RUNNER")
        .env_remove("WASMPOOL_TOKEN")
        .output();
    let demo = tokio::task::spawn_blocking(move || demo).await.unwrap().expect("python runs");
    let printed = stdout(&demo);
    assert_eq!(demo.status.code(), Some(0), "{printed}\n{}", stderr(&demo));
    let lines: Vec<&str> = printed.lines().collect();
    assert!(lines[0].starts_with("Parent process "), "{printed}");
    assert_eq!(lines[1], "Waiting for all subprocesses done...", "{printed}");
    let mut tasks: Vec<&str> =
        lines[2..7].iter().map(|l| l.split(" runs ").next().unwrap()).collect();
    tasks.sort();
    assert_eq!(tasks, ["Task 0", "Task 1", "Task 2", "Task 3", "Task 4"], "{printed}");
    assert_eq!(lines[7..], ["All subprocesses done."], "{printed}");
    // Each call was a job of the runner, named for the function, its print in its stderr.
    let (_, page) = server.get("/v1/jobs?limit=10").await;
    let jobs = page["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 5, "{page}");
    for job in jobs {
        assert_eq!(job["name"], "long_time_task", "{job}");
        let job = server.wait(job["id"].as_i64().unwrap()).await;
        assert!(job["stderr"].as_str().unwrap().starts_with("Run task "), "{job}");
    }
}

/// A Python task of typed functions (`examples/python/mathlib.py`, built against its own world
/// with `wasmpool build --wit --world`): called on a service over HTTP and with `wasmpool
/// call`, its results decoded by the function's types.
#[tokio::test(flavor = "multi_thread")]
async fn a_python_task_exports_typed_functions_to_call() {
    let Some(tool) = componentize_py() else { return };
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-examples").join(sources_hash());
    std::fs::create_dir_all(&dir).expect("cache dir");
    let wasm = dir.join("mathlib.wasm");
    if !wasm.is_file() {
        let partial = dir.join("mathlib.wasm.partial");
        let python = Path::new(REPO).join("examples/python");
        let (wit, source) = (python.join("mathlib"), python.join("mathlib.py"));
        let args = [
            "--wit".as_ref(),
            wit.as_os_str(),
            "--world".as_ref(),
            "example:mathlib/mathlib".as_ref(),
            source.as_os_str(),
            "-o".as_ref(),
            partial.as_os_str(),
        ];
        let out = build(&tool, &args);
        assert_eq!(out.status.code(), Some(0), "build mathlib: {}", stderr(&out));
        std::fs::rename(&partial, &wasm).expect("rename");
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(path_str(&wasm), "pymath").await;
    let id = server.submit(json!({ "module": "pymath", "call": "square", "params": [7] })).await;
    let job = server.wait(id).await;
    assert_eq!((&job["state"], &job["result"]), (&json!("succeeded"), &json!(49)), "{job}");
    let id = server.submit(json!({ "module": "pymath", "call": "mean", "params": [[]] })).await;
    assert_eq!(server.wait(id).await["result"], Value::Null);
    let (status, body) = server
        .post("/v1/jobs", json!({ "module": "pymath", "call": "greet", "params": [1] }))
        .await;
    assert_eq!(status, 400, "{body}");
    let out = super::server::verb(&server, &["call", "pymath", "greet(\"ann\")"]);
    assert_eq!(super::server::ok(out), "\"hello, ann, from Python\"\n");
}

/// Without componentize-py, `build` says how to install it and exits 69 (a missing tool,
/// as sysexits' `EX_UNAVAILABLE`).
#[test]
fn build_without_componentize_py_says_how_to_install_it() {
    let task = Path::new(REPO).join("examples/python/lookup.py");
    let out = wasmpool(&["build", path_str(&task), "-o", "/nonexistent/x.wasm"])
        .env_remove("WASMPOOL_COMPONENTIZE_PY")
        .env_remove("VIRTUAL_ENV")
        .env("PATH", "/nonexistent")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(stderr(&out).contains("python3 -m pip install componentize-py=="), "{}", stderr(&out));
}

/// A task componentize-py refuses (a syntax error) exits 1 with its reason on stderr and
/// writes nothing; a file that is not `NAME.py` is a usage error; the WIT `--emit-wit` writes
/// is what the repository ships.
#[test]
fn build_reports_a_broken_task_and_emits_the_shipped_wit() {
    let Some(tool) = componentize_py() else { return };
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.py");
    std::fs::write(&broken, "def run(:\n").unwrap();
    let wasm = dir.path().join("broken.wasm");
    let out = build(&tool, &[broken.as_os_str(), "-o".as_ref(), wasm.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("SyntaxError"), "{}", stderr(&out));
    assert!(!wasm.exists(), "no component from a broken task");
    let out = build(&tool, &[dir.path().join("my-task.py").as_os_str()]);
    assert_eq!(out.status.code(), Some(66), "a missing file: {}", stderr(&out));
    std::fs::write(dir.path().join("my-task.py"), "").unwrap();
    let out = build(&tool, &[dir.path().join("my-task.py").as_os_str()]);
    assert_eq!(out.status.code(), Some(2), "not an identifier: {}", stderr(&out));

    let wit = dir.path().join("wit");
    let out = build(&tool, &["--emit-wit".as_ref(), wit.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shipped = |path: &str| std::fs::read_to_string(Path::new(REPO).join(path)).unwrap();
    let written = |path: &str| std::fs::read_to_string(wit.join(path)).unwrap();
    assert_eq!(written("world.wit"), shipped("wit/python/world.wit"));
    assert_eq!(written("deps/task.wit"), shipped("wit/task.wit"));
    for file in ["cli", "clocks", "filesystem", "io", "random", "sockets"] {
        let name = format!("deps/{file}.wit");
        assert_eq!(written(&name), shipped(&format!("wit/python/{name}")), "{name}");
    }
}

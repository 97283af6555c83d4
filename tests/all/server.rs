//! A real `wasmpool serve` on port 0 for the service tests: started from the real binary
//! with its own data directory, found by its "listening on" line, killed on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::harness::WASMPOOL;

/// A running server.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    token: Option<String>,
    http: reqwest::Client,
    // Held open so the server can never hit a closed stdout.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    /// Starts a server with `workers` workers in a fresh data directory.
    pub fn start(workers: usize, data: &Path, extra: &[&str]) -> Server {
        Self::start_in(None, workers, data, extra)
    }

    /// Like [`Server::start`], with lanes (`NAME=N` each, as `--lane` takes them) instead of
    /// `--workers`.
    pub fn start_lanes(lanes: &[&str], data: &Path, extra: &[&str]) -> Server {
        let mut command = Command::new(WASMPOOL);
        command.args(["serve", "--listen", "127.0.0.1:0", "--data"]).arg(data);
        for lane in lanes {
            command.args(["--lane", lane]);
        }
        command.args(extra);
        Self::launch(command, extra)
    }

    /// Like [`Server::start`], run from `cwd` (so a relative `data` is relative to it).
    pub fn start_in(cwd: Option<&Path>, workers: usize, data: &Path, extra: &[&str]) -> Server {
        let mut command = Command::new(WASMPOOL);
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        command.args(Self::serve_args(workers, data, extra));
        Self::launch(command, extra)
    }

    /// Like [`Server::start`], started under the file creation mask `umask` (through `sh`,
    /// which then becomes the server), so a test does not depend on the mask it inherited.
    pub fn start_with_umask(umask: &str, workers: usize, data: &Path, extra: &[&str]) -> Server {
        Self::start_after(&format!("umask {umask}"), workers, data, extra)
    }

    /// Like [`Server::start`], started after the `sh` command `setup` (through `sh`, which
    /// then becomes the server): `umask 077`, `ulimit -S -n 256`.
    pub fn start_after(setup: &str, workers: usize, data: &Path, extra: &[&str]) -> Server {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("{setup} && exec \"$0\" \"$@\""))
            .arg(WASMPOOL)
            .args(Self::serve_args(workers, data, extra));
        Self::launch(command, extra)
    }

    /// Like [`Server::start`], leading a process group of its own, as a shell's foreground
    /// job does: a Ctrl-C at its terminal is SIGINT to that whole group ([`Server::interrupt_group`]).
    pub fn start_in_group(workers: usize, data: &Path, extra: &[&str]) -> Server {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(WASMPOOL);
        command.args(Self::serve_args(workers, data, extra)).process_group(0);
        Self::launch(command, extra)
    }

    /// SIGINT to the server's whole process group, as a Ctrl-C at its terminal.
    pub fn interrupt_group(&self) {
        let group = rustix::process::Pid::from_raw(self.child.id() as i32).expect("pid");
        rustix::process::kill_process_group(group, rustix::process::Signal::INT).expect("SIGINT");
    }

    /// Like [`Server::start`], with the server's stderr (its log) delivered line by line on
    /// the channel returned, instead of shown.
    pub fn start_logged(
        workers: usize,
        data: &Path,
        extra: &[&str],
    ) -> (Server, std::sync::mpsc::Receiver<String>) {
        let mut command = Command::new(WASMPOOL);
        command.args(Self::serve_args(workers, data, extra)).stderr(Stdio::piped());
        let mut server = Self::launch(command, extra);
        let stderr = BufReader::new(server.child.stderr.take().expect("piped stderr"));
        let (lines, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { return };
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        (server, log)
    }

    /// `serve` on port 0 with `workers` workers in `data`, then `extra`.
    pub fn serve_args(workers: usize, data: &Path, extra: &[&str]) -> Vec<std::ffi::OsString> {
        let head =
            ["serve", "--listen", "127.0.0.1:0", "--workers", &workers.to_string(), "--data"]
                .map(std::ffi::OsString::from);
        let tail = extra.iter().map(std::ffi::OsString::from);
        head.into_iter().chain([data.as_os_str().to_owned()]).chain(tail).collect()
    }

    /// Spawns `command` (a serve) and reads its "listening on" line. Its stderr is this
    /// process's unless the command already says otherwise.
    fn launch(mut command: Command, extra: &[&str]) -> Server {
        command
            .env_remove("WASMPOOL_TOKEN")
            .env_remove("RUST_LOG")
            .env_remove("WASMPOOL_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut child = command.spawn().expect("wasmpool serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the listening line");
        let url = line
            .trim()
            .strip_prefix("wasmpool listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let token =
            extra.windows(2).find(|pair| pair[0] == "--token").map(|pair| pair[1].to_string());
        Server { child, url, token, http: reqwest::Client::new(), _stdout: stdout }
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM.
    pub fn signal_terminate(&self) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    }

    /// Sends SIGTERM and waits for the exit status (bounded).
    pub fn terminate(self) -> std::process::ExitStatus {
        self.signal_terminate();
        self.wait_exit()
    }

    /// Waits (bounded) for the server to exit by itself.
    pub fn wait_exit(mut self) -> std::process::ExitStatus {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not stop within 30 s of SIGTERM");
    }

    /// A request with the server's token, if it has one.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.url));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends and returns status and JSON body (Null for an empty or non-JSON body).
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> (u16, Value) {
        let response = builder.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GET returning status and JSON.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    /// How many jobs the store holds (up to a page of 1,000).
    pub async fn job_count(&self) -> usize {
        let (_, page) = self.get("/v1/jobs?limit=1000").await;
        page["jobs"].as_array().map_or(0, Vec::len)
    }

    /// PATCH of JSON returning status and JSON.
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.request(reqwest::Method::PATCH, path).json(&body)).await
    }

    /// POST of JSON returning status and JSON.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.request(reqwest::Method::POST, path).json(&body)).await
    }

    /// Uploads a guest under a name; returns its hash.
    pub async fn upload(&self, path: &str, name: &str) -> String {
        let bytes = std::fs::read(path).expect("guest built");
        let (status, body) = self
            .send(
                self.request(reqwest::Method::POST, &format!("/v1/modules?name={name}"))
                    .header("content-type", "application/wasm")
                    .body(bytes),
            )
            .await;
        assert!(status == 201 || status == 200, "upload {name}: {status} {body}");
        body["hash"].as_str().expect("hash").to_string()
    }

    /// Submits one job; returns its id.
    pub async fn submit(&self, job: Value) -> i64 {
        let (status, body) = self.post("/v1/jobs", job.clone()).await;
        assert_eq!(status, 202, "submit {job}: {body}");
        body["id"].as_i64().expect("id")
    }

    /// Submits a batch (asserting 202); returns the jobs' ids in order.
    pub async fn submit_batch(&self, jobs: Vec<Value>) -> Vec<i64> {
        let (status, accepted) = self.post("/v1/jobs/batch", json!({ "jobs": jobs })).await;
        assert_eq!(status, 202, "{accepted}");
        let accepted = accepted["jobs"].as_array().expect("accepted jobs");
        accepted.iter().map(|job| job["id"].as_i64().expect("id")).collect()
    }

    /// Waits (bounded) for the job to end and returns it.
    pub async fn wait(&self, id: i64) -> Value {
        for _ in 0..10 {
            let (status, job) = self.get(&format!("/v1/jobs/{id}/wait?timeout_ms=10000")).await;
            assert_eq!(status, 200, "wait {id}: {job}");
            if !matches!(job["state"].as_str(), Some("waiting" | "queued" | "running")) {
                return job;
            }
        }
        panic!("job {id} did not end within 100 s");
    }

    /// Polls the job (bounded) until `ready` holds; returns it.
    pub async fn poll_job(&self, id: i64, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..2000 {
            let (_, job) = self.get(&format!("/v1/jobs/{id}")).await;
            if ready(&job) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("job {id} never {what}");
    }

    /// Waits (bounded) until the job is in `state`.
    pub async fn wait_for_state(&self, id: i64, state: &str) -> Value {
        self.poll_job(id, &format!("became {state}"), |job| job["state"] == state).await
    }

    /// Waits (bounded) until the job's start on a worker is recorded (`started_at` set).
    pub async fn wait_for_start(&self, id: i64) -> Value {
        self.poll_job(id, "started", |job| job["started_at"].is_string()).await
    }

    /// Waits (bounded) until the job is on a worker; returns the job (with `worker_pid`).
    pub async fn wait_for_worker(&self, id: i64) -> Value {
        self.poll_job(id, "reached a worker", |job| job["worker_pid"].as_u64().is_some()).await
    }

    /// A job running `module` with `args`.
    pub fn job(module: &str, args: &[&str]) -> Value {
        json!({ "module": module, "args": args })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client verb of the real binary against `server`, with no token from the environment.
pub fn verb(server: &Server, args: &[&str]) -> std::process::Output {
    super::harness::wasmpool(args)
        .env("WASMPOOL_SERVER", &server.url)
        .env_remove("WASMPOOL_TOKEN")
        .output()
        .expect("runs")
}

/// The verb's stdout, once it exited 0.
pub fn ok(output: std::process::Output) -> String {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", super::harness::stderr(&output));
    super::harness::stdout(&output)
}

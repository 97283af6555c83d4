//! Issue 26's second round of faults, each forced rather than waited for: a host that missed
//! the notification of a job's end while following it, `logs -f` when the service goes away,
//! a heartbeat racing a pause, and a host that cannot join its cluster again.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::cluster::host;
use super::harness::{wait_until, wasmpool};
use super::live::put;
use super::postgres::{self, psql};
use super::server::Server;

/// How long any one expected event may take.
const BOUND: Duration = Duration::from_secs(30);

/// A TCP proxy in front of PostgreSQL for one host. It forwards everything until told to
/// go deaf; from then on, a connection that has sent `LISTEN` gets nothing more from the
/// server — its notifications are lost, yet it stays open, as over a network path that died
/// silently — while every other connection works.
struct DeafProxy {
    /// The URL through the proxy.
    url: String,
    deaf: Arc<AtomicBool>,
}

impl DeafProxy {
    async fn start(url: &str) -> DeafProxy {
        let (before, rest) = url.split_once('@').expect("a URL with a user");
        let (server, database) = rest.split_once('/').expect("a URL with a database");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxied = format!("{before}@{}/{database}", listener.local_addr().unwrap());
        let deaf = Arc::new(AtomicBool::new(false));
        let (server, flag) = (server.to_string(), deaf.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(&server).await else { continue };
                tokio::spawn(forward(client, upstream, flag.clone()));
            }
        });
        DeafProxy { url: proxied, deaf }
    }

    fn go_deaf(&self) {
        self.deaf.store(true, Ordering::SeqCst);
    }
}

/// Copies both ways; drops what the server sends to a listening connection once `deaf`.
async fn forward(client: TcpStream, upstream: TcpStream, deaf: Arc<AtomicBool>) {
    let (mut client_in, mut client_out) = client.into_split();
    let (mut server_in, mut server_out) = upstream.into_split();
    let listening = Arc::new(AtomicBool::new(false));
    let heard = listening.clone();
    let up = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(n) = client_in.read(&mut buffer).await {
            if n == 0 || server_out.write_all(&buffer[..n]).await.is_err() {
                return;
            }
            if buffer[..n].windows(6).any(|w| w.eq_ignore_ascii_case(b"LISTEN")) {
                heard.store(true, Ordering::SeqCst);
            }
        }
    };
    let down = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(n) = server_in.read(&mut buffer).await {
            if n == 0 {
                return;
            }
            let lost = deaf.load(Ordering::SeqCst) && listening.load(Ordering::SeqCst);
            if !lost && client_out.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::join!(up, down);
}

/// Waits (bounded) for the child to exit; its exit code, stdout and stderr.
fn finish(mut child: std::process::Child) -> (Option<i32>, String, String) {
    let deadline = std::time::Instant::now() + BOUND;
    while child.try_wait().expect("try_wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "wasmpool logs -f did not exit within {BOUND:?}; stdout {:?}, stderr {:?}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().expect("output");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

fn follow(server: &Server, id: i64) -> std::process::Child {
    wasmpool(&["logs", "-f", "--server", &server.url, &id.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasmpool logs starts")
}

/// Host a follows a job running on host b; a's listening connection goes silent (it stays
/// open, but nothing the server sends reaches a any more) before the job ends, so a never
/// hears of the end: its follower still ends, by reading the job again.
#[tokio::test(flavor = "multi_thread")]
async fn a_follower_that_missed_the_end_of_a_job_on_another_host_still_ends() {
    let url = postgres::shared().database();
    let (b, _db) = host(&url, "b", 1, &[]);
    b.upload(artifacts::QUEUE_READER, "queue-reader").await;
    let id = b.submit(json!({ "module": "queue-reader", "args": ["gate", "60000"] })).await;
    assert_eq!(b.wait_for_worker(id).await["node"], "b");
    let proxy = DeafProxy::start(&url).await;
    let (a, _da) = host(&proxy.url, "a", 1, &[]);
    // The response has begun: a's follower read the job as running and waits.
    let path = format!("/v1/jobs/{id}/output?follow=true");
    let mut followed = a.request(reqwest::Method::GET, &path).send().await.expect("answers");
    assert_eq!(followed.status(), 200);
    proxy.go_deaf();
    put(&b, "gate", "END").await;
    let job = b.wait(id).await;
    assert_eq!(job["state"], "succeeded");
    let mut text = Vec::new();
    loop {
        let chunk = tokio::time::timeout(BOUND, followed.chunk())
            .await
            .expect("the follow ends once the job has ended")
            .expect("the follow ends cleanly");
        match chunk {
            Some(chunk) => text.extend_from_slice(&chunk),
            None => break,
        }
    }
    assert_eq!(String::from_utf8_lossy(&text), job["stdout"].as_str().unwrap());
}

/// The service shuts down while `logs -f` follows a job that has not ended (its drain gives
/// up at once and puts the job back in the queue): `logs -f` exits 75 and says the job had
/// not ended, never 0 as if it had, nor 69 as if the service had never answered.
#[tokio::test(flavor = "multi_thread")]
async fn logs_f_exits_75_when_the_service_stops_before_the_job_ended() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--drain-timeout", "0s"]);
    server.upload(artifacts::QUEUE_READER, "queue-reader").await;
    let id = server.submit(json!({ "module": "queue-reader", "args": ["gate", "60000"] })).await;
    server.wait_for_worker(id).await;
    let mut logs = follow(&server, id);
    // logs -f has printed the job's first line, so it is reading the live stream (not still
    // connecting, which would find the service gone: another exit code).
    let first = first_line(logs.stdout.take().expect("piped stdout"));
    assert!(first.starts_with("Process to read: "), "{first:?}");
    server.terminate();
    let (code, _, stderr) = finish(logs);
    assert_eq!(code, Some(75), "stderr: {stderr}");
    assert!(stderr.contains(&format!("job {id}")) && stderr.contains("not ended"), "{stderr}");
}

/// The first line a child wrote to `stdout` (bounded); the rest is drained in the background.
fn first_line(stdout: std::process::ChildStdout) -> String {
    use std::io::BufRead;
    let (sent, line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let _ = sent.send(lines.next().and_then(Result::ok).unwrap_or_default());
        lines.for_each(drop);
    });
    line.recv_timeout(BOUND).expect("logs -f printed a line")
}

/// A heartbeat whose statement began before a pause committed (it waited for its node's row,
/// which the test holds) reads the pause as it was: it must not undo the pause, not even
/// until the next heartbeat (a job queued meanwhile would run).
#[tokio::test(flavor = "multi_thread")]
async fn a_heartbeat_that_raced_a_pause_does_not_undo_it() {
    let url = postgres::shared().database();
    let (a, _da) = host(&url, "a", 1, &["--heartbeat", "500ms", "--lease", "10s"]);
    a.upload(artifacts::HELLO, "hello").await;
    let mut holder = sqlx::PgConnection::connect(&url).await.expect("connects");
    let mut held = holder.begin().await.expect("begins");
    sqlx::query("SELECT 1 FROM nodes WHERE name = 'a' FOR UPDATE")
        .execute(&mut *held)
        .await
        .expect("locks a's row");
    // a's next heartbeat is now waiting for the row, its snapshot taken.
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                   AND query LIKE '%UPDATE nodes SET heartbeat_at%' AND pid <> pg_backend_pid()";
    let blocked = wait_until(BOUND, || psql(&url, waiting).trim() == "1").await;
    assert!(blocked, "a's heartbeat never waited for its row");
    let (status, pool) = a.post("/v1/pool/pause", json!({})).await;
    assert_eq!((status, &pool["paused"]), (200, &json!(true)), "{pool}");
    let id = a.submit(Server::job("hello", &[])).await;
    let before = heartbeat_of(&url);
    held.commit().await.expect("releases the row");
    // The raced heartbeat goes through, then two more: had it unpaused a, the job ran.
    let beat = wait_until(BOUND, || heartbeat_of(&url) >= before + 10).await;
    assert!(beat, "a stopped beating");
    let (_, job) = a.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(job["state"], "queued", "a job ran while the pool was paused: {job}");
    let (_, pool) = a.get("/v1/pool").await;
    assert_eq!(pool["paused"], true, "the pause was undone: {pool}");
}

/// Tenths of seconds of a's last heartbeat, by the database's clock.
fn heartbeat_of(url: &str) -> i64 {
    let sql = "SELECT (extract(epoch FROM heartbeat_at) * 10) :: BIGINT FROM nodes \
               WHERE name = 'a' AND state = 'alive'";
    psql(url, sql).trim().parse().unwrap_or(0)
}

/// A host stopped past its lease is declared lost, and a new host takes its name meanwhile:
/// the old one, resumed, cannot join again, and its `/healthz` says so with 503 (a balancer
/// would otherwise keep sending it work it cannot do).
#[tokio::test(flavor = "multi_thread")]
async fn a_host_that_cannot_join_again_is_unhealthy() {
    let url = postgres::shared().database();
    let lease = ["--heartbeat", "200ms", "--lease", "2s"];
    let (old, _dold) = host(&url, "b", 1, &lease);
    let (a, _da) = host(&url, "a", 1, &lease);
    let pid = rustix::process::Pid::from_raw(old.pid() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let (_, nodes) = a.get("/v1/nodes").await;
        let lost =
            nodes.as_array().unwrap().iter().any(|n| n["name"] == "b" && n["state"] == "lost");
        if lost {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "b was never declared lost: {nodes}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (new, _dnew) = host(&url, "b", 1, &lease);
    assert_eq!(new.get("/healthz").await.0, 200);
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    let deadline = tokio::time::Instant::now() + BOUND;
    let health = loop {
        let (status, health) = old.get("/healthz").await;
        if status == 503 {
            break health;
        }
        assert!(tokio::time::Instant::now() < deadline, "the old host stayed healthy: {health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(health["status"], "out_of_cluster", "{health}");
    assert!(health["reason"].as_str().unwrap().contains("`b` is taken"), "{health}");
}

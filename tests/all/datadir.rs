//! The data directory: one serve at a time holds it, and nothing in it is open to others.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::harness::{WASMPOOL, wait_until};
use super::server::Server;

/// The code `serve` exits with when another serve holds its data directory.
const IN_USE: i32 = 75;

#[tokio::test(flavor = "multi_thread")]
async fn a_second_serve_on_a_held_data_dir_exits_75_at_once_and_leaves_it_alone() {
    let data = tempfile::tempdir().unwrap();
    let first = Server::start(1, data.path(), &[]);
    first.upload(artifacts::HELLO, "hello").await;
    let id = first.submit(Server::job("hello", &[])).await;
    assert_eq!(first.wait(id).await["state"], "succeeded");

    let mut second = Command::new(WASMPOOL)
        .args(Server::serve_args(1, data.path(), &[]))
        .env_remove("WASMPOOL_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasmpool serve starts");
    let mut exited = false;
    let bound = Duration::from_secs(10);
    wait_until(bound, || {
        exited = second.try_wait().expect("try_wait").is_some();
        exited
    })
    .await;
    if !exited {
        let _ = second.kill();
    }
    let output = second.wait_with_output().expect("the second serve's output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(exited, "the second serve was still running after {bound:?}; stderr: {stderr}");
    assert_eq!(output.status.code(), Some(IN_USE), "stderr: {stderr}");
    assert!(output.stdout.is_empty(), "it never listened: {:?}", output.stdout);
    let expected = format!(
        "the data directory {} is in use by another wasmpool serve (pid {})",
        data.path().display(),
        first.pid()
    );
    assert!(stderr.contains(&expected), "expected {expected:?} in {stderr:?}");

    assert_eq!(first.get("/healthz").await.0, 200, "the first serve still answers");
    let (_, job) = first.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("succeeded"), Some(1)));

    // The lock dies with its holder, even by SIGKILL: no stale lock to clean up.
    first.kill();
    let third = Server::start(1, data.path(), &[]);
    assert_eq!(third.get("/healthz").await.0, 200);
    let (_, job) = third.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_data_dir_is_private_to_its_user() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    // The mask most users have: without wasmpool's own, files would be 0644, dirs 0755.
    let server = Server::start_with_umask("022", 1, &data, &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let id = server.submit(Server::job("hello", &["secret"])).await;
    assert_eq!(server.wait(id).await["state"], "succeeded");

    assert_eq!(mode(&data), 0o700);
    assert_private_database(&data);
    assert_eq!(open_to_others(&data), Vec::<(PathBuf, u32)>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_data_dir_open_to_others_is_made_private() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with_umask("022", 1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let id = server.submit(Server::job("hello", &[])).await;
    server.wait(id).await;
    // Killed, so the database's -wal and -shm stay behind, as after a crash.
    server.kill();
    // As an older wasmpool, under a umask of 022, left them.
    for entry in std::fs::read_dir(data.path()).unwrap() {
        let path = entry.unwrap().path();
        let open = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(open)).unwrap();
    }
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    let server = Server::start_with_umask("022", 1, data.path(), &[]);
    assert_eq!(server.get(&format!("/v1/jobs/{id}")).await.1["state"], "succeeded");
    assert_eq!(mode(data.path()), 0o700, "the directory was tightened");
    assert_private_database(data.path());
}

/// The database is 0600, and so are its -wal and -shm where present.
fn assert_private_database(data: &Path) {
    let db = data.join("wasmpool.db");
    assert_eq!(mode(&db), 0o600, "{}", db.display());
    for side in ["wasmpool.db-wal", "wasmpool.db-shm"] {
        let path = data.join(side);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Everything under `dir` (not following links) that group or others may use.
fn open_to_others(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut open = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let Ok(metadata) = std::fs::symlink_metadata(&path) else { continue };
        if metadata.file_type().is_symlink() {
            continue;
        }
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            open.push((path.clone(), mode));
        }
        if metadata.is_dir() {
            open.extend(open_to_others(&path));
        }
    }
    open
}

//! What a guest may see: only the environment, directories and nothing of the network
//! that the job grants.

use super::harness::{output, stderr, stdout, wasmpool};

/// A program that lists its environment sees exactly what it was given: `--env K=V`, and
/// `--env NAME` with this command's own value of NAME; nothing of wasmpool's own.
#[test]
fn guest_sees_exactly_the_environment_it_was_given() {
    for probe in [artifacts::PROBE, artifacts::PROBE_COMPONENT] {
        let out = wasmpool(&["run", "--env", "GREETING=hi", "--env", "FROM_HOST", probe, "env"])
            .env("HOST_SECRET", "do-not-leak")
            .env("FROM_HOST", "passed on")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out), "FROM_HOST=passed on\nGREETING=hi\n", "{probe}");
    }
}

#[test]
fn the_job_env_option_adds_the_job_id_and_worker_pid() {
    let out = output(&["run", "--job-env", "--env", "GREETING=hi", artifacts::PROBE, "env"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let vars: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    let names: Vec<&str> = vars.iter().map(|v| v.split('=').next().unwrap()).collect();
    assert_eq!(names, ["GREETING", "WASMPOOL_JOB_ID", "WASMPOOL_WORKER_PID"], "{vars:?}");
    assert!(vars.contains(&"WASMPOOL_JOB_ID=1".to_string()), "run's one job is job 1: {vars:?}");
    let pid: u32 = vars[2].split('=').nth(1).unwrap().parse().expect("a pid");
    assert_ne!(pid, 0);
}

#[test]
fn env_without_a_value_not_set_here_is_a_usage_error() {
    let out = wasmpool(&["run", "--env", "WASMPOOL_TEST_UNSET", artifacts::PROBE, "env"])
        .env_remove("WASMPOOL_TEST_UNSET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("`WASMPOOL_TEST_UNSET` is not set here"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "nothing ran");
}

#[test]
fn no_files_unless_a_directory_is_granted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note.txt"), "visible\n").unwrap();
    let host_path = dir.path().join("note.txt");
    let out = output(&["run", artifacts::PROBE, "read", host_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "nothing is reachable without --dir");
    assert!(stderr(&out).starts_with("probe: "), "{}", stderr(&out));
}

#[test]
fn granted_directory_can_be_read_and_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note.txt"), "visible\n").unwrap();
    let grant = format!("{}::/data", dir.path().display());
    let out = output(&["run", "--dir", &grant, artifacts::PROBE, "read", "/data/note.txt"]);
    assert_eq!(stdout(&out), "visible\n", "{}", stderr(&out));
    let out =
        output(&["run", "--dir", &grant, artifacts::PROBE, "write", "/data/new.txt", "written"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("new.txt")).unwrap(), "written");
}

#[test]
fn read_only_directory_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note.txt"), "visible\n").unwrap();
    let grant = format!("{}::/data:ro", dir.path().display());
    let out = output(&["run", "--dir", &grant, artifacts::PROBE, "ls", "/data"]);
    assert_eq!(stdout(&out), "note.txt\n", "{}", stderr(&out));
    let out = output(&["run", "--dir", &grant, artifacts::PROBE, "write", "/data/new.txt", "no"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.path().join("new.txt").exists(), "the write must not land");
}

#[test]
fn granting_a_missing_directory_is_a_usage_error() {
    let out = output(&["run", "--dir", "/definitely/not/here", artifacts::HELLO]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot grant directory"), "{}", stderr(&out));
}

#[test]
fn components_have_no_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let out = output(&["run", artifacts::PROBE_COMPONENT, "connect", &address]);
    assert_eq!(out.status.code(), Some(1), "stdout: {}", stdout(&out));
    assert!(stderr(&out).starts_with("probe: "), "{}", stderr(&out));
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "no connection reached the listener");
}

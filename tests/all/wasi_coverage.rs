//! Every WASI call a job can make runs in a confined worker: the `coverage` guest makes each
//! one (preview 1 as a module, preview 2 as a component), with each flag that reaches a
//! different system call, in a directory granted with `--dir`, under the real binary's worker
//! and its seccomp filter. A call the filter did not expect would kill the worker (SIGSYS);
//! a call the filter refuses must come back to the job as an error code.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use super::harness::{output_with_stdin, stderr, stdout, wasmpool};

/// Runs the coverage guest on an empty granted directory; panics unless the job succeeded
/// with every call giving the outcome the guest expected. Returns its stdout.
fn run_coverage(guest: &str, dir: &Path) -> String {
    let grant = format!("{}::/data", dir.display());
    let command = wasmpool(&["run", "--dir", &grant, "--env", "COVERAGE=1", guest, "/data"]);
    let out = output_with_stdin(command, b"input\n");
    let text = stdout(&out);
    assert!(
        !stderr(&out).contains("forbidden system call"),
        "the worker was killed by its seccomp filter:\n{}\n{text}",
        stderr(&out)
    );
    let surprises: Vec<&str> = text.lines().filter(|line| line.contains("UNEXPECTED")).collect();
    assert!(surprises.is_empty(), "calls with an unexpected outcome: {surprises:#?}");
    assert_eq!(out.status.code(), Some(0), "{}\n{text}", stderr(&out));
    let last = text.lines().last().unwrap_or_default();
    assert!(last.ends_with(" calls, 0 unexpected"), "{last}");
    assert!(stderr(&out).contains("coverage: stderr\n"), "the guest's stderr: {}", stderr(&out));
    text
}

/// The names left in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The calls named in `text` (the part of each line before its first `: `).
fn calls(text: &str) -> Vec<&str> {
    text.lines().filter_map(|line| line.split(": ").next()).collect()
}

#[test]
fn every_preview1_call_runs_in_a_confined_worker() {
    let dir = tempfile::tempdir().unwrap();
    let text = run_coverage(artifacts::COVERAGE, dir.path());
    let made = calls(&text);
    for call in [
        "args_get",
        "environ_get",
        "clock_res_get monotonic",
        "clock_time_get realtime",
        "fd_advise dontneed",
        "fd_allocate",
        "fd_close",
        "fd_datasync",
        "fd_fdstat_get 0",
        "fd_fdstat_set_flags append",
        "fd_fdstat_set_flags nonblock",
        "fd_fdstat_set_rights",
        "fd_filestat_get size",
        "fd_filestat_set_size grow",
        "fd_filestat_set_times now",
        "fd_pread",
        "fd_prestat_get",
        "fd_prestat_dir_name",
        "fd_pwrite",
        "fd_read",
        "fd_read 0 bytes",
        "fd_readdir entries",
        "fd_renumber",
        "fd_seek past the end",
        "fd_sync",
        "fd_tell",
        "fd_write 0 bytes",
        "fd_write append",
        "path_create_directory",
        "path_filestat_get",
        "path_filestat_get nofollow",
        "path_filestat_set_times nofollow",
        "path_link",
        "path_open append",
        "path_open dsync",
        "path_open sync",
        "path_open rsync",
        "path_open nonblock",
        "path_readlink",
        "path_remove_directory",
        "path_rename over existing",
        "path_symlink",
        "path_unlink_file",
        "poll_oneoff clock relative",
        "poll_oneoff fds writable",
        "poll_oneoff file readable",
        "proc_raise",
        "random_get",
        "sched_yield",
        "sock_accept",
        "sock_recv",
        "sock_send",
        "sock_shutdown",
    ] {
        assert!(made.contains(&call), "the guest did not report {call:?}:\n{text}");
    }
    // What the appending writes left, seen from the host.
    assert_eq!(std::fs::read_to_string(dir.path().join("log")).unwrap(), "One\ntwo\nthree\nfour\n");
    assert_eq!(listing(dir.path()), ["file", "log", "sized", "sized-link", "synced"]);
}

#[test]
fn every_preview2_call_runs_in_a_confined_worker() {
    let dir = tempfile::tempdir().unwrap();
    let text = run_coverage(artifacts::COVERAGE_COMPONENT, dir.path());
    let made = calls(&text);
    for call in [
        "get-arguments",
        "get-environment",
        "monotonic-clock now",
        "wall-clock resolution",
        "subscribe-instant block",
        "poll",
        "get-random-bytes",
        "get-insecure-random-u64",
        "insecure-seed",
        "stdin blocking-read",
        "stdout blocking-write-and-flush",
        "create-tcp-socket",
        "create-udp-socket",
        "resolve-addresses",
        "write",
        "read",
        "advise Advice::DontNeed",
        "set-size grow",
        "sync",
        "sync-data",
        "metadata-hash",
        "is-same-object",
        "write-via-stream past the end",
        "append-via-stream write",
        "blocking-splice",
        "open-at data-integrity-sync",
        "open-at file-integrity-sync",
        "set-times now",
        "set-times-at nofollow",
        "stat-at nofollow",
        "metadata-hash-at",
        "create-directory-at",
        "symlink-at",
        "readlink-at",
        "link-at",
        "rename-at over existing",
        "remove-directory-at",
        "unlink-file-at",
        "read-directory-entry entries",
    ] {
        assert!(made.contains(&call), "the guest did not report {call:?}:\n{text}");
    }
    let streamed = std::fs::read(dir.path().join("streamed")).unwrap();
    assert!(streamed.ends_with(b"end+1+2"), "appended after the end: {streamed:?}");
    assert_eq!(listing(dir.path()), ["copy", "file", "streamed", "synced", "timed", "timed-link"]);
}

/// A socket is refused with an error code (the worker goes on); starting a process still
/// kills the worker. A guest can make neither call, so the worker's test hook does.
#[test]
fn a_refused_system_call_fails_and_a_forbidden_one_kills() {
    let parent = std::process::id().to_string();
    let hook = ["worker", "--parent-pid", &parent, "--try-forbidden-syscall"];
    let out = wasmpool(&hook).output().unwrap();
    assert!(stderr(&out).starts_with("socket: Operation not permitted"), "{}", stderr(&out));
    assert_eq!(out.status.signal(), Some(31), "killed by SIGSYS: {out:?}");
}

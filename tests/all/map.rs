//! `wasmpool map`: a local pool of N workers, a FIFO queue for the rest, tagged output and
//! a summary, checked from the timings the pool recorded.

use std::time::SystemTime;

use serde_json::Value;

use super::harness::{output, stderr, stdout};

fn time(job: &Value, field: &str) -> SystemTime {
    humantime::parse_rfc3339(job[field].as_str().expect(field)).expect("RFC 3339 time")
}

#[test]
fn five_tasks_on_four_workers_queue_the_fifth() {
    let out = output(&[
        "map",
        "-w",
        "4",
        "--json",
        // Each task prints its worker's pid, which it reads from WASMPOOL_WORKER_PID.
        "--job-env",
        "--env",
        "LONG_TIME_TASK_MAX_MS=1500",
        artifacts::LONG_TIME_TASK,
        "0",
        "1",
        "2",
        "3",
        "4",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut jobs: Vec<Value> =
        stdout(&out).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(jobs.len(), 5);
    jobs.sort_by_key(|job| time(job, "started_at"));

    // At no instant were more than four jobs running.
    for job in &jobs {
        let at = time(job, "started_at");
        let running = jobs
            .iter()
            .filter(|other| time(other, "started_at") <= at && at < time(other, "finished_at"))
            .count();
        assert!(running <= 4, "{running} jobs running at once");
    }
    // The last to start started only after one of the first four had finished.
    let first_finish = jobs[..4].iter().map(|job| time(job, "finished_at")).min().unwrap();
    assert!(
        time(&jobs[4], "started_at") >= first_finish,
        "the fifth job did not wait for a free worker"
    );

    let pids: std::collections::HashSet<u64> =
        jobs.iter().map(|job| job["worker_pid"].as_u64().unwrap()).collect();
    assert_eq!(pids.len(), 4, "four worker processes ran the five jobs");
    for job in &jobs {
        let index = job["index"].as_u64().unwrap();
        let pid = job["worker_pid"].as_u64().unwrap();
        let text = job["stdout"].as_str().unwrap();
        assert!(
            text.starts_with(&format!("Run task {index} ({pid})...\nTask {index} runs ")),
            "{text}"
        );
        assert_eq!(job["state"], "succeeded");
    }
    assert!(stderr(&out).contains("map: 5 jobs in"), "{}", stderr(&out));
}

#[test]
fn output_lines_are_tagged_with_index_and_pid() {
    let out = output(&["map", "-w", "2", artifacts::FIB, "10", "20", "25"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for (index, line) in [(0, "fib(10) = 55"), (1, "fib(20) = 6765"), (2, "fib(25) = 75025")] {
        let found = text
            .lines()
            .any(|l| l.starts_with(&format!("[{index} ")) && l.ends_with(&format!("] {line}")));
        assert!(found, "missing `[{index} PID] {line}` in:\n{text}");
    }
    assert!(stderr(&out).contains("3 succeeded, 0 failed"), "{}", stderr(&out));
}

#[test]
fn a_failed_job_makes_the_whole_map_fail() {
    let out = output(&["map", "-w", "2", artifacts::EXIT_CODE, "0", "3", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("] job exited with code 3"), "{err}");
    assert!(err.contains("2 succeeded, 1 failed"), "{err}");
}

#[test]
fn args_file_gives_one_job_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jobs.txt");
    std::fs::write(&file, "5\n\n6\n7\n").unwrap();
    let out = output(&[
        "map",
        "-w",
        "2",
        "--json",
        "--args-file",
        file.to_str().unwrap(),
        artifacts::FIB,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut results: Vec<String> = stdout(&out)
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["stdout"].as_str().unwrap().to_string()
        })
        .collect();
    results.sort();
    assert_eq!(results, ["fib(5) = 5\n", "fib(6) = 8\n", "fib(7) = 13\n"]);
}

#[test]
fn map_without_jobs_is_an_error() {
    let out = output(&["map", artifacts::HELLO]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(stderr(&out).contains("no jobs"), "{}", stderr(&out));
}

//! `wasmpool map`: a local pool of N workers, a FIFO queue for the rest, tagged output and
//! a summary, checked from the timings the pool recorded.

use std::time::SystemTime;

use serde_json::Value;

use std::process::Output;

use super::harness::{output, output_with_stdin, stderr, stdout, wasmpool};

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
    assert!(stderr(&out).contains("map: 5 jobs on 4 workers in"), "{}", stderr(&out));
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
fn map_without_jobs_is_a_usage_error() {
    let out = output(&["map", artifacts::HELLO]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(stderr(&out).contains("no jobs"), "{}", stderr(&out));
}

/// `wasmpool map ARGS...` with `input` on its stdin.
fn map_with_stdin(args: &[&str], input: &str) -> Output {
    output_with_stdin(wasmpool(args), input.as_bytes())
}

fn json_lines(out: &Output) -> Vec<Value> {
    stdout(out).lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[test]
fn a_template_is_filled_from_a_list_in_input_order() {
    // The first job sleeps longest, so it ends last: only -k prints it first.
    let out = output(&[
        "map",
        "-k",
        "-w",
        "3",
        "--json",
        artifacts::SLEEPER,
        "{}",
        ":::",
        "0.6",
        "0.3",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let indexes: Vec<u64> =
        json_lines(&out).iter().map(|job| job["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, [0, 1, 2]);

    let out = output(&["map", "-k", "-w", "2", artifacts::FIB, "{#}", ":::", "a", "b", "c"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<String> =
        stdout(&out).lines().map(|line| line.split_once("] ").unwrap().1.to_string()).collect();
    assert_eq!(lines, ["fib(1) = 1", "fib(2) = 1", "fib(3) = 2"]);
}

#[test]
fn inputs_come_from_stdin() {
    let out = map_with_stdin(&["map", "-k", artifacts::FIB, "-"], "5\n# a comment\n\n6\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
    assert!(stdout(&out).contains("fib(6) = 8"), "{}", stdout(&out));

    // A template with no other source reads stdin, one input per line.
    let out = map_with_stdin(&["map", "--json", artifacts::FIB, "{}"], "7\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_lines(&out)[0]["stdout"], "fib(7) = 13\n");
}

#[test]
fn halt_now_stops_at_the_first_failure_and_kills_the_running() {
    // Job 1 fails at once; job 0 would sleep 30 s; jobs 2 and 3 wait for a worker.
    let out = output(&[
        "map",
        "-w",
        "2",
        "--json",
        "--halt",
        "now,fail=1",
        artifacts::SLEEPER,
        ":::",
        "30",
        "x",
        "0",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let jobs = json_lines(&out);
    let state =
        |index: u64| jobs.iter().find(|job| job["index"] == index).map(|job| job["state"].clone());
    assert_eq!(state(1), Some("failed".into()));
    assert_eq!(state(0), Some("cancelled".into()));
    assert_eq!((state(2), state(3)), (None, None));
    assert!(stderr(&out).contains("2 not started"), "{}", stderr(&out));
}

#[test]
fn retries_run_a_failing_job_again_and_the_joblog_records_each_job() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("jobs.tsv");
    let out = output(&[
        "map",
        "-k",
        "--json",
        "--retries",
        "3",
        "--joblog",
        log.to_str().unwrap(),
        artifacts::EXIT_CODE,
        ":::",
        "3",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let jobs = json_lines(&out);
    assert_eq!((jobs[0]["tries"].as_u64(), jobs[0]["exit_code"].as_i64()), (Some(3), Some(3)));
    assert_eq!(jobs[1]["tries"].as_u64(), Some(1));

    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("Seq\tPid\tStarttime\tJobRuntime\tExitval\tState\tCommand"));
    let mut rows: Vec<Vec<&str>> = lines.map(|line| line.split('\t').collect()).collect();
    rows.sort_by_key(|row| row[0].to_string());
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0][0], rows[0][4], rows[0][5]), ("1", "3", "failed"));
    assert_eq!((rows[1][0], rows[1][4], rows[1][5]), ("2", "0", "succeeded"));
    assert!(rows[1][6].ends_with(" 0") && rows[1][1].parse::<u32>().unwrap() > 0, "{rows:?}");
    assert!(rows[0][2].parse::<f64>().unwrap() > 1.0e9, "{rows:?}");
}

#[test]
fn args_file_lines_are_quoted_like_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jobs.txt");
    std::fs::write(&file, "'unclosed\n").unwrap();
    let out = output(&["map", "--args-file", file.to_str().unwrap(), artifacts::FIB]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("line 1: unbalanced quotes"), "{}", stderr(&out));
}

#[test]
fn no_more_workers_start_than_there_are_jobs() {
    let out = output(&["map", "-w", "64", artifacts::FIB, "5", "6"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("2 jobs on 2 workers"), "{}", stderr(&out));
}

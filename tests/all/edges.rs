//! Rough edges a newcomer hit with the local verbs (issue 25): a mistyped option before
//! MODULE, the seeds' demo started out of order, a closed pipe, causes said twice, an
//! unreadable `--args-file`, completion of internal verbs and of `--state`, `retry`/`cancel`
//! with no argument. Each runs the real binary as a user would.

use std::process::Stdio;
use std::time::SystemTime;

use serde_json::Value;

use super::harness::{output, stderr, stdout, wasmpool};

fn time(job: &Value, field: &str) -> SystemTime {
    humantime::parse_rfc3339(job[field].as_str().expect(field)).expect("RFC 3339 time")
}

#[test]
fn a_mistyped_option_before_the_module_is_clap_s_error_with_its_tip() {
    let cases: [(&[&str], &str, &str); 3] = [
        (&["run", "--timout", "5s", artifacts::HELLO], "--timout", "--timeout"),
        (&["submit", "--timout", "5s", "hello"], "--timout", "--timeout"),
        (&["map", "--wrokers", "2", artifacts::FIB, ":::", "1"], "--wrokers", "--workers"),
    ];
    for (args, typo, tip) in cases {
        let out = output(args);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
        assert!(text.contains(&format!("unexpected argument '{typo}'")), "{args:?}: {text}");
        assert!(text.contains(&format!("'{tip}'")), "the tip names {tip}: {text}");
    }
    // After MODULE every word is still the guest's, options of wasmpool's included.
    let out = output(&["run", artifacts::PROBE, "args", "--timout", "--timeout", "1s"]);
    assert_eq!(stdout(&out), "probe.wasm\nargs\n--timout\n--timeout\n1s\n", "{}", stderr(&out));
    let out = output(&["map", artifacts::PROBE, "args", "--workers", ":::", "x"]);
    assert!(stdout(&out).contains("] --workers\n"), "{}{}", stdout(&out), stderr(&out));
}

/// The Quick start's demo: five jobs on four workers start in input order. Indexes 0 to 3
/// start at once, one on each worker; index 4 waits for one of them to end and starts on the
/// worker it freed.
#[test]
fn map_starts_the_seeds_demo_in_input_order() {
    for _ in 0..3 {
        let out = output(&[
            "map",
            "-w",
            "4",
            "--json",
            "--env",
            "LONG_TIME_TASK_MIN_MS=300",
            "--env",
            "LONG_TIME_TASK_MAX_MS=600",
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
        jobs.sort_by_key(|job| job["index"].as_u64());
        let (first, last) = jobs.split_at(4);
        let last = &last[0];
        let pids: std::collections::HashSet<u64> =
            first.iter().map(|job| job["worker_pid"].as_u64().unwrap()).collect();
        assert_eq!(pids.len(), 4, "indexes 0 to 3 each on a worker of their own: {jobs:?}");
        for job in first {
            assert!(time(job, "started_at") < time(last, "started_at"), "{jobs:?}");
        }
        let started = time(last, "started_at");
        let freed: Vec<&Value> =
            first.iter().filter(|job| time(job, "finished_at") <= started).collect();
        assert!(!freed.is_empty(), "index 4 waited for a worker: {jobs:?}");
        let on_freed = freed.iter().any(|job| job["worker_pid"] == last["worker_pid"]);
        assert!(on_freed, "index 4 ran on a worker that had finished its job: {jobs:?}");
    }
}

/// Runs `args` with stdout a pipe whose reader is gone before anything is written, as
/// `… | head -0` or a `head -1` that already read its line.
fn with_closed_stdout(args: &[&str]) -> std::process::Output {
    let mut child = wasmpool(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasmpool starts");
    drop(child.stdout.take());
    child.wait_with_output().expect("wasmpool ends")
}

#[test]
fn a_closed_stdout_stops_quietly() {
    let out = with_closed_stdout(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));

    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<String> = (0..2000).map(|i| i.to_string()).collect();
    for json in [true, false] {
        let joblog = dir.path().join(format!("jobs-{json}.tsv"));
        let mut args = vec!["map", "-w", "2", "--joblog", joblog.to_str().unwrap()];
        if json {
            args.push("--json");
        }
        args.push(artifacts::HELLO);
        args.extend(inputs.iter().map(String::as_str));
        let out = with_closed_stdout(&args);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "--json {json}: {text}");
        assert!(!text.contains("panicked") && !text.contains("wasmpool:"), "{text}");
        // The rest was never started: nobody reads what it would print.
        let ran = std::fs::read_to_string(&joblog).unwrap().lines().count() - 1;
        assert!(ran < 200, "--json {json}: {ran} of 2000 jobs ran after stdout closed");
    }
}

#[test]
fn a_cause_is_said_once() {
    let out = output(&["run", "missing.wasm"]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(66), "{text}");
    assert_eq!(text.matches("No such file or directory").count(), 1, "{text}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let data = tempfile::tempdir().unwrap();
    let data = data.path().to_str().unwrap();
    let out = output(&["serve", "--listen", &address, "--data", data]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(69), "{text}");
    assert_eq!(text.to_lowercase().matches("address already in use").count(), 1, "{text}");
}

#[test]
fn an_unreadable_args_file_exits_66_as_every_unreadable_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nofile");
    for file in [missing.to_str().unwrap(), dir.path().to_str().unwrap()] {
        let out = output(&["map", "--args-file", file, artifacts::FIB]);
        assert_eq!(out.status.code(), Some(66), "{file}: {}", stderr(&out));
        assert!(stderr(&out).contains(file), "{}", stderr(&out));
    }
}

#[test]
fn completion_offers_the_states_and_not_the_internal_verbs() {
    let bash = stdout(&output(&["completions", "bash"]));
    let verbs = bash.lines().find(|line| line.contains(" run map ")).expect("the verbs' line");
    for internal in ["worker", "compile"] {
        assert!(!verbs.split_whitespace().any(|word| word == internal), "{verbs}");
        assert!(!bash.contains(&format!("wasmpool__{internal}")), "bash completes `{internal}`");
    }
    assert!(bash.contains("queued running succeeded failed timed_out cancelled"), "{bash}");
    let zsh = stdout(&output(&["completions", "zsh"]));
    assert!(!zsh.contains("'worker:") && !zsh.contains("'compile:"), "zsh offers internal verbs");
}

#[test]
fn retry_and_cancel_with_no_argument_name_the_filter_form() {
    for verb in ["retry", "cancel"] {
        let out = output(&[verb, "--server", "http://127.0.0.1:1"]);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(text.contains(&format!("wasmpool {verb} 42")), "{text}");
        assert!(text.contains("--state failed"), "the filter form: {text}");
    }
}

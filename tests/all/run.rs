//! `wasmpool run`: each guest's behaviour through the real binary, exit codes, stdin,
//! the output cap, limits, and clear errors for modules that cannot run.

use std::process::Stdio;

use super::harness::{output, output_with_stdin, stderr, stdout, wasmpool};

#[test]
fn hello_prints_and_exits_zero() {
    let out = output(&["run", artifacts::HELLO]);
    assert_eq!(stdout(&out), "Hello from wasmpool!\n");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
}

#[test]
fn hello_component_runs_as_preview2() {
    let out = output(&["run", artifacts::HELLO_COMPONENT]);
    assert_eq!(stdout(&out), "Hello from wasmpool!\n");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
}

#[test]
fn a_working_directory_left_by_a_killed_run_is_swept() {
    // A pid that is certainly gone: a child that has exited and been reaped.
    let mut child = std::process::Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait");
    let left = std::env::temp_dir().join(format!("wasmpool-{pid}"));
    std::fs::create_dir_all(left.join("worker-0")).expect("a leftover directory");
    let out = output(&["run", artifacts::HELLO]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(!left.exists(), "{} is still there", left.display());
}

fn run_with_stdin(module: &str, input: &[u8]) -> std::process::Output {
    output_with_stdin(wasmpool(&["run", module]), input)
}

#[test]
fn stdin_reaches_echo_module_and_component() {
    let input: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    for module in [artifacts::ECHO, artifacts::ECHO_COMPONENT] {
        let out = run_with_stdin(module, &input);
        assert_eq!(out.status.code(), Some(0), "{module}: {}", stderr(&out));
        assert!(
            out.stdout == input,
            "{module}: echoed {} bytes, sent {}",
            out.stdout.len(),
            input.len()
        );
    }
}

#[test]
fn stdin_file_option_feeds_the_guest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.txt");
    std::fs::write(&file, "from a file\n").unwrap();
    let out = output(&["run", "--stdin", file.to_str().unwrap(), artifacts::ECHO]);
    assert_eq!(stdout(&out), "from a file\n");
}

#[test]
fn exit_codes_pass_through() {
    for code in [0, 1, 7, 42] {
        let out = output(&["run", artifacts::EXIT_CODE, &code.to_string()]);
        assert_eq!(out.status.code(), Some(code), "stderr: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("exiting with {code}\n"));
    }
}

#[test]
fn fib_computes_from_its_argument() {
    let out = output(&["run", artifacts::FIB, "20"]);
    assert_eq!(stdout(&out), "fib(20) = 6765\n");
    let out = output(&["run", artifacts::FIB]);
    assert_eq!(out.status.code(), Some(2), "a missing argument is the guest's usage error");
}

#[test]
fn trap_is_reported_with_its_reason() {
    let out = output(&["run", artifacts::TRAP]);
    assert_eq!(stdout(&out), "about to trap\n", "output before the trap is kept");
    assert_eq!(out.status.code(), Some(134));
    assert!(
        stderr(&out).contains("trapped") && stderr(&out).contains("unreachable"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn output_is_capped_and_says_so() {
    let out = output(&["run", "--output-limit", "5", artifacts::HELLO]);
    assert_eq!(stdout(&out), "Hello");
    assert!(stderr(&out).contains("stdout was cut at 5 B"), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0), "cutting output does not fail the job");
}

#[test]
fn exactly_the_cap_is_not_reported_as_cut() {
    let out = output(&["run", "--output-limit", "21", artifacts::HELLO]);
    assert_eq!(stdout(&out), "Hello from wasmpool!\n");
    assert!(!stderr(&out).contains("cut"), "{}", stderr(&out));
}

#[test]
fn spin_times_out() {
    let started = std::time::Instant::now();
    let out = output(&["run", "--timeout", "1s", artifacts::SPIN]);
    assert_eq!(out.status.code(), Some(124));
    assert!(stderr(&out).contains("timed out after 1s"), "{}", stderr(&out));
    assert!(started.elapsed().as_secs_f64() < 3.0, "took {:?}", started.elapsed());
}

#[test]
fn memhog_hits_the_memory_limit() {
    let out = output(&["run", "--memory", "32MiB", artifacts::MEMHOG]);
    assert_eq!(out.status.code(), Some(134));
    assert!(stderr(&out).contains("memory limit of 32 MiB exceeded"), "{}", stderr(&out));
    let out = output(&["run", "--memory", "64MiB", artifacts::MEMHOG, "16"]);
    assert_eq!(out.status.code(), Some(0), "below the limit it works: {}", stderr(&out));
}

#[test]
fn fuel_limit_stops_a_long_computation() {
    let out = output(&["run", "--fuel", "100000", artifacts::FIB, "30"]);
    assert_eq!(out.status.code(), Some(134));
    assert!(stderr(&out).contains("fuel limit of 100000 exhausted"), "{}", stderr(&out));
    let out = output(&["run", "--fuel", "100000000", artifacts::FIB, "20"]);
    assert_eq!(stdout(&out), "fib(20) = 6765\n", "{}", stderr(&out));
}

#[test]
fn env_and_args_reach_the_guest() {
    let out = output(&[
        "run",
        "--job-env",
        "--env",
        "LONG_TIME_TASK_MAX_MS=1",
        artifacts::LONG_TIME_TASK,
        "7",
    ]);
    let text = stdout(&out);
    assert!(text.starts_with("Run task 7 ("), "{text}");
    assert!(!text.contains("(?)"), "WASMPOOL_WORKER_PID is set: {text}");
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with("Task 7 runs 0.0") && last.ends_with(" seconds."), "{text}");
}

#[test]
fn non_wasm_file_is_rejected_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.wasm");
    std::fs::write(&path, "just some text, not a program").unwrap();
    let out = output(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("not a WebAssembly file"), "{}", stderr(&out));
}

#[test]
fn broken_wasm_is_rejected_with_wasmtimes_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.wasm");
    let bytes = std::fs::read(artifacts::HELLO).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let out = output(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("invalid WebAssembly"), "{}", stderr(&out));
}

#[test]
fn module_without_start_is_rejected_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("library.wasm");
    // The smallest valid module: magic and version, no sections, so no `_start` (and no
    // function to call either).
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let out = output(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("neither a WASI command (`_start`"), "{}", stderr(&out));
}

#[test]
fn missing_module_file_is_a_clear_error() {
    let out = output(&["run", "/no/such/module.wasm"]);
    assert_eq!(out.status.code(), Some(66), "a file that cannot be read");
    assert!(stderr(&out).contains("cannot read /no/such/module.wasm"), "{}", stderr(&out));
}

#[test]
fn every_verb_has_help_with_an_example() {
    let verbs = [
        "run",
        "map",
        "serve",
        "upload",
        "submit",
        "status",
        "wait",
        "cancel",
        "jobs",
        "modules",
        "pool",
        "retry",
        "completions",
    ];
    for verb in verbs {
        let out = output(&[verb, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("Example"), "{verb} --help: {}", stdout(&out));
    }
}

#[test]
fn a_relative_cache_directory_works() {
    let cwd = tempfile::tempdir().unwrap();
    let out = super::harness::wasmpool(&["run", artifacts::HELLO])
        .current_dir(cwd.path())
        .env("WASMPOOL_CACHE_DIR", "cache")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "Hello from wasmpool!\n", "{}", stderr(&out));
    assert!(cwd.path().join("cache").is_dir());
}

/// A guest makes wasmtime warn on every call of an unimplemented WASI function; 100,000 calls
/// wrote 26 MB to the host's log in under a second. The host forwards a worker's lines at a
/// bounded rate and says how many it dropped.
#[test]
fn a_guest_cannot_flood_the_hosts_log() {
    let output = output(&["run", artifacts::LOG_FLOOD, "100000"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "called sock_accept 100000 times\n");
    let log = stderr(&output);
    assert!(log.len() < 100_000, "{} bytes of log", log.len());
    assert!(log.contains("not implemented"), "the first warnings still come through: {log}");
    assert!(log.contains("were dropped (rate limit)"), "{log}");
}

#[test]
fn a_slow_compile_says_so_on_a_terminal_and_nothing_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("big.wasm");
    std::fs::write(&module, super::harness::many_functions(60_000)).unwrap();
    let run = format!("{} run {}", super::harness::WASMPOOL, module.display());

    // In a pipe: only what the guest printed (nothing), no notice.
    let piped = wasmpool(&["run", module.to_str().unwrap()])
        .env("WASMPOOL_CACHE_DIR", dir.path().join("cache-piped"))
        .output()
        .unwrap();
    assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
    assert!(!stderr(&piped).contains("compiling"), "{}", stderr(&piped));

    // `script` gives the command a terminal, as a person's shell does.
    let terminal = std::process::Command::new("script")
        .args(["-qec", &run, "/dev/null"])
        .env("WASMPOOL_CACHE_DIR", dir.path().join("cache-terminal"))
        .stdin(Stdio::null())
        .output()
        .expect("script(1) from util-linux runs");
    let shown = String::from_utf8_lossy(&terminal.stdout);
    assert!(shown.contains("compiling") && shown.contains("big.wasm"), "{shown}");
    assert!(shown.contains("done in"), "{shown}");
}

//! The command line as users of `wasmtime run` and `docker run` expect it: the guest's
//! command line after MODULE, argv[0], options before the verb, and exit codes that match
//! the README's table, verb by verb.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::Value;

use super::harness::{output, output_with_stdin, stderr, stdout, wasmpool};
use super::server::{Server, ok, verb};

/// A URL nothing listens on.
fn closed_url() -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", closed.local_addr().unwrap())
}

#[test]
fn everything_after_the_module_is_the_guests_in_run() {
    let out = output(&["run", artifacts::PROBE, "args", "--help", "-x", "--timeout", "1s"]);
    assert_eq!(stdout(&out), "probe.wasm\nargs\n--help\n-x\n--timeout\n1s\n", "{}", stderr(&out));
    // `--` right after MODULE still separates, and is not passed on.
    let out = output(&["run", artifacts::PROBE, "--", "args", "--version"]);
    assert_eq!(stdout(&out), "probe.wasm\nargs\n--version\n", "{}", stderr(&out));
}

#[test]
fn argv0_names_the_program_the_guest_sees() {
    let out = output(&["run", "--argv0", "calc", artifacts::PROBE, "args", "1"]);
    assert_eq!(stdout(&out), "calc\nargs\n1\n", "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_passes_the_guest_its_flags_argv0_and_asked_for_job_env() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let out = verb(
        &server,
        &["submit", "--wait", "--argv0", "calc", artifacts::PROBE, "args", "--help", "--json"],
    );
    assert_eq!(ok(out), "calc\nargs\n--help\n--json\n");

    let id = ok(verb(&server, &["submit", "--argv0", "calc", artifacts::PROBE, "args"]));
    let status: Value =
        serde_json::from_str(&ok(verb(&server, &["status", "--json", id.trim()]))).unwrap();
    assert_eq!(status["argv0"], "calc", "argv0 is kept with the job: {status}");
    assert_eq!(status["job_env"], false);

    let plain = ok(verb(&server, &["submit", "--wait", artifacts::PROBE, "env"]));
    assert_eq!(plain, "", "a job that does not ask sees no variables of wasmpool's");
    let out = verb(&server, &["submit", "--json", "--job-env", artifacts::PROBE, "env"]);
    let accepted: Value = serde_json::from_str(&ok(out)).unwrap();
    let id = accepted["id"].as_i64().unwrap().to_string();
    let text = ok(verb(&server, &["wait", &id]));
    assert!(text.starts_with(&format!("WASMPOOL_JOB_ID={id}\nWASMPOOL_WORKER_PID=")), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_options_may_come_before_the_verb() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let lead = |args: &[&str]| {
        wasmpool(args).env_remove("WASMPOOL_SERVER").env_remove("WASMPOOL_TOKEN").output().unwrap()
    };
    ok(lead(&["--server", &server.url, "upload", "--name", "hello", artifacts::HELLO]));
    let listing = ok(lead(&["--server", &server.url, "--json", "modules"]));
    let modules: Value = serde_json::from_str(&listing).expect("--json before the verb counts");
    assert_eq!(modules[0]["names"][0], "hello");
    // Given again after the verb, the verb's own wins.
    ok(lead(&["--server", &closed_url(), "pool", "--server", &server.url]));
    ok(lead(&["--server", &server.url, "queue", "ls"]));

    let local = lead(&["--server", &server.url, "run", artifacts::HELLO]);
    assert_eq!(local.status.code(), Some(2), "{}", stderr(&local));
    assert!(stderr(&local).contains("--server is for the client verbs"), "{}", stderr(&local));
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_reads_piped_stdin_as_run_does() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let mut submit = wasmpool(&["submit", "--wait", artifacts::ECHO]);
    submit.env("WASMPOOL_SERVER", &server.url);
    assert_eq!(ok(output_with_stdin(submit, b"piped in\n")), "piped in\n");
}

#[test]
fn usage_mistakes_exit_2() {
    let out = output(&["map", artifacts::HELLO]);
    assert_eq!(out.status.code(), Some(2), "map without jobs: {}", stderr(&out));
    assert!(stderr(&out).contains("no jobs"), "{}", stderr(&out));

    let out = output(&["run", "--memory", "64", artifacts::HELLO]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = "a memory limit below one 64 KiB page cannot run anything; did you mean 64MiB?";
    assert!(stderr(&out).contains(message), "{}", stderr(&out));
    let out = output(&["submit", "--server", &closed_url(), "--memory", "64", "hello"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(message), "{}", stderr(&out));
}

#[test]
fn a_file_that_cannot_be_read_exits_66() {
    let dir = tempfile::tempdir().unwrap();
    let server = closed_url();
    let missing = dir.path().join("missing.wasm");
    let missing = missing.to_str().unwrap();
    let folder = dir.path().to_str().unwrap();
    for args in [
        vec!["upload", "--server", &server, missing],
        vec!["submit", "--server", &server, missing],
        vec!["run", missing],
    ] {
        let out = output(&args);
        assert_eq!(out.status.code(), Some(66), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&format!("cannot read {missing}")), "{}", stderr(&out));
    }
    for args in [vec!["upload", "--server", &server, folder], vec!["run", folder]] {
        let out = output(&args);
        assert_eq!(out.status.code(), Some(66), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("is a directory, not a file"), "{}", stderr(&out));
    }
}

#[test]
fn serve_says_why_it_cannot_listen() {
    let data = tempfile::tempdir().unwrap();
    let data = data.path().to_str().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = output(&["serve", "--workers", "1", "--data", data, "--listen", &address]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("cannot listen on {address}")), "{}", stderr(&out));
    assert!(stderr(&out).contains("another process listens there"), "{}", stderr(&out));

    for (listen, says) in [
        ("8080", "is not HOST:PORT"),
        ("no-such-host.invalid:8080", "cannot resolve `no-such-host.invalid`"),
        ("0.0.0.0:0", "without a token"),
    ] {
        let out = output(&["serve", "--workers", "1", "--data", data, "--listen", listen]);
        assert_eq!(out.status.code(), Some(2), "{listen}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{listen}: {}", stderr(&out));
    }
}

#[test]
fn serve_listens_on_a_host_name() {
    let data = tempfile::tempdir().unwrap();
    let mut child = wasmpool(&["serve", "--workers", "1", "--listen", "localhost:0", "--data"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("wasmpool listening on http://127.0.0.1:"), "{line:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timeout_above_the_maximum_is_named_in_the_unit_given() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--max-timeout", "1h"]);
    ok(verb(&server, &["upload", "--name", "hello", artifacts::HELLO]));
    for (given, most) in [("2h", "1h"), ("90m", "60m"), ("7200", "3600s")] {
        let out = verb(&server, &["submit", "--timeout", given, "hello"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let says = format!("--timeout {given} is above the service's maximum: at most {most}");
        assert!(stderr(&out).contains(&says), "{}", stderr(&out));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_get_exits_1_only_when_no_item_came() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    ok(verb(&server, &["queue", "put", "q", "a", "b"]));
    let out = verb(&server, &["queue", "get", "-n", "5", "--timeout", "200ms", "q"]);
    assert_eq!(ok(out), "a\nb\n", "two of five came: that is not a failure");
    let out = verb(&server, &["queue", "get", "-n", "5", "--timeout", "200ms", "q"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no item arrived on queue q within 200ms"), "{}", stderr(&out));

    // --timeout bounds the whole call, not each item: with items arriving steadily, each
    // well within the timeout, a get of 10,000 still ends once the timeout has passed (the
    // bound below only stops the test if it does not).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let (stop, url) = (stop.clone(), server.url.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let put = wasmpool(&["queue", "put", "--server", &url, "q", "x"]).output().unwrap();
                assert!(put.status.success(), "{}", stderr(&put));
            }
        })
    };
    let mut child =
        wasmpool(&["queue", "get", "--server", &server.url, "-n", "10000", "--timeout", "3s", "q"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
    let ended = super::harness::wait_until(std::time::Duration::from_secs(60), || {
        child.try_wait().unwrap().is_some()
    })
    .await;
    let _ = child.kill();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    producer.join().unwrap();
    assert!(ended, "queue get -n 10000 --timeout 3s still running after a minute of items");
}

#[test]
fn the_output_limit_notice_starts_on_its_own_line() {
    // Both streams to one pipe, as on a terminal.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" run --output-limit 5 \"$1\" 2>&1")
        .arg(super::harness::WASMPOOL)
        .arg(artifacts::HELLO)
        .env("WASMPOOL_CACHE_DIR", super::harness::cache_dir())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "Hello\nwasmpool: stdout was cut at 5 B (--output-limit)\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_and_status_name_the_module_a_job_was_submitted_by() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let uploaded = ok(verb(&server, &["upload", "--name", "greeter", artifacts::HELLO]));
    let hash = uploaded.split_whitespace().next().unwrap().to_string();
    let by_name = ok(verb(&server, &["submit", "greeter"])).trim().to_string();
    let by_hash = ok(verb(&server, &["submit", &hash])).trim().to_string();
    let listing = ok(verb(&server, &["jobs"]));
    let module_of = |id: &str| {
        let line = listing.lines().find(|line| line.split_whitespace().next() == Some(id));
        line.unwrap_or_else(|| panic!("job {id} listed: {listing}")).split_whitespace().nth(2)
    };
    assert_eq!(module_of(&by_name), Some("greeter"), "{listing}");
    assert_eq!(module_of(&by_hash), Some(&hash[..12]), "{listing}");
    let status = ok(verb(&server, &["status", &by_name]));
    assert!(status.contains(&format!("module       greeter ({hash})")), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_keeps_an_ended_job_and_delete_removes_it() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    let id = ok(verb(&server, &["submit", artifacts::HELLO])).trim().to_string();
    ok(verb(&server, &["wait", &id]));
    let out = verb(&server, &["cancel", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("has already ended (succeeded)"), "{}", stderr(&out));
    assert!(ok(verb(&server, &["status", &id])).contains("succeeded"), "the job is still there");

    assert_eq!(ok(verb(&server, &["cancel", "--delete", &id])), format!("{id} deleted\n"));
    let gone = verb(&server, &["status", &id]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(stderr(&gone).contains(&format!("no job {id}")), "{}", stderr(&gone));
}

#[test]
fn version_names_wasmtime_and_the_git_revision() {
    let out = output(&["--version"]);
    let text = ok(out);
    assert!(text.starts_with(&format!("wasmpool {} (wasmtime 48.", env!("CARGO_PKG_VERSION"))));
    let revision = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map_or_else(|| "unknown".to_string(), |out| stdout(&out).trim().to_string());
    assert!(text.trim_end().ends_with(&format!(", git {revision})")), "{text}");
}

#[test]
fn completions_load_into_bash() {
    let script = ok(output(&["completions", "bash"]));
    // Through a file: the script is longer than one argument may be (128 KiB).
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &script).unwrap();
    let loaded = std::process::Command::new("bash")
        .arg("-c")
        .arg("source \"$0\" && complete -p wasmpool")
        .arg(file.path())
        .output()
        .unwrap();
    assert_eq!(loaded.status.code(), Some(0), "{}", stderr(&loaded));
    assert!(stdout(&loaded).contains("wasmpool"), "{}", stdout(&loaded));
    for shell in ["zsh", "fish"] {
        let script = ok(output(&["completions", shell]));
        assert!(script.contains("submit") && script.contains("job-env"), "{shell}: {script}");
    }
    assert_eq!(output(&["completions", "tcsh"]).status.code(), Some(2));
}

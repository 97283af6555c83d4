//! Calls (issue 20): a job that runs an exported function with typed parameters instead of
//! its module's command, against a real service with real wasmtime, on both stores. The
//! `calls` guest (`guest/calls`, a component of exported functions and no command) covers
//! each type family; `reactor` (`guest/reactor`) is a core WASI reactor.

use serde_json::{Value, json};

use super::harness::stderr;
use super::postgres;
use super::server::{Server, ok, verb};

fn call(module: &str, function: &str, params: Value) -> Value {
    json!({ "module": module, "call": function, "params": params })
}

/// Each type family, as a batch of calls: every job ends succeeded with the value expected.
async fn each_type_family_maps_between_json_and_component_values(server: &Server) {
    server.upload(artifacts::CALLS, "mathlib").await;
    let cases = [
        ("square", json!([7]), json!(49)),
        ("add", json!([9_007_199_254_740_993_u64, 1]), json!(9_007_199_254_740_994_u64)),
        ("halve", json!([3.0]), json!(1.5)),
        ("greet", json!(["ann"]), json!("hello, ann!")),
        ("is-even", json!([4]), json!(true)),
        ("upper", json!(["é"]), json!("É")),
        ("sum", json!([[1, -2, 300]]), json!(299)),
        (
            "move-point",
            json!([{"x": 1, "y": 2, "label": "a"}, 10]),
            json!({"x": 11, "y": 2, "label": "a+"}),
        ),
        // An option field may be left out (none), and comes back as null.
        (
            "move-point",
            json!({"p": {"x": 1, "y": 2}, "dx": 1}),
            json!({"x": 2, "y": 2, "label": null}),
        ),
        ("swap", json!([["s", 5]]), json!([5, "s"])),
        ("first-word", json!(["hello world"]), json!("hello")),
        ("first-word", json!(["   "]), json!(null)),
        ("divide", json!([7, 2]), json!({"ok": 3})),
        ("next-color", json!(["blue"]), json!("red")),
        ("grant", json!([["write"]]), json!(["read", "write"])),
        ("wasmpool-test:calls/shapes#area", json!([{"rectangle": [2.0, 3.5]}]), json!(7.0)),
        ("wasmpool-test:calls/shapes#area", json!(["dot"]), json!(0.0)),
    ];
    let jobs = cases.iter().map(|(function, params, _)| call("mathlib", function, params.clone()));
    let ids = server.submit_batch(jobs.collect()).await;
    for ((function, params, expected), id) in cases.iter().zip(ids) {
        let job = server.wait(id).await;
        assert_eq!(job["state"], "succeeded", "{function}({params}): {job}");
        assert_eq!(job["result"], *expected, "{function}({params})");
        assert_eq!(job["call"], *function);
        assert!(job["exit_code"].is_null(), "a call has no exit code: {job}");
    }
    // The job view shows the call with its parameters as checked (by name → in order).
    let id = server.submit(call("mathlib", "square", json!({"n": 12.0}))).await;
    let job = server.wait(id).await;
    assert_eq!((&job["params"], &job["result"]), (&json!([12]), &json!(144)));
    // A listing previews the call as it does arguments.
    let (_, page) = server.get("/v1/jobs?limit=1").await;
    assert_eq!(page["jobs"][0]["args_preview"], "square(12)", "{page}");
    assert_eq!(page["jobs"][0]["call"], "square");
    // Output written during a call is kept as a command's is.
    let id = server.submit(call("mathlib", "chatty", json!(["hi"]))).await;
    let job = server.wait(id).await;
    assert_eq!(
        (&job["result"], &job["stdout"], &job["stderr"]),
        (&json!(2), &json!("out: hi\n"), &json!("err: hi\n"))
    );
}

/// What does not fit is refused at submission with a 400 naming the parameter and the
/// expected type (or the exports there are), and nothing is queued.
async fn calls_that_do_not_fit_are_refused_before_anything_is_queued(server: &Server) {
    server.upload(artifacts::CALLS, "mathlib").await;
    server.upload(artifacts::HELLO, "hello").await;
    let refusals = [
        (
            call("mathlib", "square", json!(["seven"])),
            "parameter `n` of `square`: expected s32, got \"seven\"",
        ),
        (
            call("mathlib", "square", json!([1.5])),
            "parameter `n` of `square`: expected s32, got 1.5",
        ),
        (
            call("mathlib", "is-even", json!([256])),
            "parameter `n` of `is-even`: 256 is out of range for u8",
        ),
        (
            call("mathlib", "next-color", json!(["pink"])),
            "parameter `c` of `next-color`: `pink` is not a case of enum { red, green, blue }",
        ),
        (
            call("mathlib", "move-point", json!([{"x": 1}, 0])),
            "parameter `p` of `move-point`.y: missing (expected s32)",
        ),
        (call("mathlib", "square", json!([])), "parameter `n` of `square`: missing (expected s32)"),
        (call("mathlib", "square", json!([1, 2])), "`square` takes 1 parameter(s), 2 given"),
        (
            call("mathlib", "cube", json!([2])),
            "module `mathlib` exports no function `cube`; it exports: `add`, `chatty`",
        ),
        (
            json!({"module": "mathlib"}),
            "module `mathlib` is not a WASI command: give `call` to call one of its functions (`add`",
        ),
        (json!({"module": "hello", "params": [1]}), "params is only for a call"),
        (
            call("hello", "main", json!([])),
            "module `hello` exports no function `main`; it exports: none",
        ),
    ];
    for (request, expected) in refusals {
        let (status, body) = server.post("/v1/jobs", request.clone()).await;
        assert_eq!(status, 400, "{request}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(expected),
            "{request}: {message:?} does not start with {expected:?}"
        );
    }
    // In a batch, the refusal names the job; none of the batch is queued.
    let batch = json!({"jobs": [call("mathlib", "square", json!([2])), call("mathlib", "square", json!([true]))]});
    let (status, body) = server.post("/v1/jobs/batch", batch).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("jobs[1]: parameter `n` of `square`: expected s32, got true"),
        "{body}"
    );
    let (_, page) = server.get("/v1/jobs").await;
    assert_eq!(page["jobs"], json!([]), "nothing was queued: {page}");
    // The exports, with their types, are the module's.
    let (status, exports) = server.get("/v1/modules/mathlib/exports").await;
    assert_eq!(status, 200);
    assert_eq!(exports["command"], false);
    assert_eq!(
        exports["functions"]["square"],
        json!({"params": [{"name": "n", "of": {"type": "s32"}}], "results": [{"type": "s32"}]})
    );
}

/// A trap and an `err` result end the job failed with the message; an `err` result is
/// still the job's `result`.
async fn traps_and_err_results_fail_the_job(server: &Server) {
    server.upload(artifacts::CALLS, "mathlib").await;
    let trap = server.submit(call("mathlib", "crash", json!([1]))).await;
    let err = server.submit(call("mathlib", "divide", json!([1, 0]))).await;
    let job = server.wait(trap).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().starts_with("trapped"), "{job}");
    let job = server.wait(err).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"], "returned err: cannot divide 1 by zero");
    assert_eq!(job["result"], json!({"err": "cannot divide 1 by zero"}));
}

/// A core WASI reactor: `_initialize` runs first, numeric parameters and results.
async fn core_reactors_take_numeric_calls(server: &Server) {
    server.upload(artifacts::REACTOR, "reactor").await;
    let cases = [
        ("add", json!([40, 2]), json!(42)),
        ("factorial", json!([20]), json!(2_432_902_008_176_640_000_i64)),
        ("scale", json!([1.5, 4.0]), json!(6.0)),
        ("ready", json!([]), json!(1)),
    ];
    for (function, params, expected) in cases {
        let id = server.submit(call("reactor", function, params.clone())).await;
        let job = server.wait(id).await;
        assert_eq!(
            (&job["state"], &job["result"]),
            (&json!("succeeded"), &expected),
            "{function}: {job}"
        );
    }
    let id = server.submit(call("reactor", "boom", json!([]))).await;
    assert_eq!(server.wait(id).await["state"], "failed");
    let (status, body) = server.post("/v1/jobs", call("reactor", "add", json!(["x", 1]))).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "parameter `p0` of `add`: expected s32, got \"x\"");
}

/// A call failing with `err` is retried like any job: `flaky(2)` fails its first attempt.
async fn failed_calls_are_retried(server: &Server) {
    server.upload(artifacts::CALLS, "mathlib").await;
    let mut request = call("mathlib", "flaky", json!([2]));
    request["max_attempts"] = json!(2);
    let id = server.submit(request).await;
    let job = server.wait(id).await;
    assert_eq!(
        (&job["state"], &job["attempts"], &job["result"]),
        (&json!("succeeded"), &json!(2), &json!({"ok": 2})),
        "{job}"
    );
    let history = job["attempts_history"].as_array().unwrap();
    assert_eq!(history[0]["error"], "returned err: not yet: attempt 1");
    // An explicit retry of an ended call runs it again.
    let id = server.submit(call("mathlib", "flaky", json!([2]))).await;
    assert_eq!(server.wait(id).await["state"], "failed");
    let (status, body) = server.post(&format!("/v1/jobs/{id}/retry"), json!({})).await;
    assert_eq!(status, 202, "{body}");
    let job = server.wait(id).await;
    assert_eq!((&job["state"], &job["result"]), (&json!("succeeded"), &json!({"ok": 2})), "{job}");
}

#[tokio::test(flavor = "multi_thread")]
async fn type_families_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    each_type_family_maps_between_json_and_component_values(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    calls_that_do_not_fit_are_refused_before_anything_is_queued(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_reactors_and_retries_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &[]);
    traps_and_err_results_fail_the_job(&server).await;
    core_reactors_take_numeric_calls(&server).await;
    failed_calls_are_retried(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_on_postgres() {
    let url = postgres::shared().database();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(2, data.path(), &["--store", &url]);
    each_type_family_maps_between_json_and_component_values(&server).await;
    traps_and_err_results_fail_the_job(&server).await;
    core_reactors_take_numeric_calls(&server).await;
    failed_calls_are_retried(&server).await;
    let url = postgres::shared().database();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--store", &url]);
    calls_that_do_not_fit_are_refused_before_anything_is_queued(&server).await;
}

/// `wasmpool call` takes WAVE and prints WAVE (JSON with `--json`); `submit --call` the same.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_calls_in_wave() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::CALLS, "mathlib").await;
    assert_eq!(ok(verb(&server, &["call", "mathlib", "square(7)"])), "49\n");
    assert_eq!(ok(verb(&server, &["call", "--json", "mathlib", "square(7)"])), "49\n");
    let area = "wasmpool-test:calls/shapes#area(rectangle((2.0, 3.0)))";
    assert_eq!(ok(verb(&server, &["call", "mathlib", area])), "6\n");
    let point = r#"move-point({x: 1, y: 2, label: some("p")}, 3)"#;
    assert_eq!(
        ok(verb(&server, &["call", "mathlib", point])),
        "{x: 4, y: 2, label: some(\"p+\")}\n"
    );
    assert_eq!(ok(verb(&server, &["call", "mathlib", "grant({write})"])), "{read, write}\n");
    assert_eq!(ok(verb(&server, &["call", "mathlib", "divide(7, 2)"])), "ok(3)\n");
    // An `err` result: exit 1, the error on stderr.
    let failed = verb(&server, &["call", "mathlib", "divide(1, 0)"]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("returned err: cannot divide 1 by zero"),
        "{}",
        stderr(&failed)
    );
    // A trap: as `wait` says one.
    let trapped = verb(&server, &["call", "mathlib", "crash(1)"]);
    assert_eq!(trapped.status.code(), Some(134), "{}", stderr(&trapped));
    // Arguments that do not fit, or an unknown function, never reach the service.
    let bad = verb(&server, &["call", "mathlib", "square(\"x\")"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let unknown = verb(&server, &["call", "mathlib", "cube(2)"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("exports no function `cube`"), "{}", stderr(&unknown));
    // `submit --call` queues the same job; with --wait it prints the result too.
    let id = ok(verb(&server, &["submit", "--call", "square(9)", "mathlib"]));
    let job = server.wait(id.trim().parse().unwrap()).await;
    assert_eq!(job["result"], 81);
    assert_eq!(
        ok(verb(&server, &["submit", "--wait", "--call", "greet(\"bo\")", "mathlib"])),
        "\"hello, bo!\"\n"
    );
    let (_, page) = server.get("/v1/jobs?state=queued").await;
    assert_eq!(page["jobs"], json!([]));
}

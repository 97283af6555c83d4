//! The Python client (`clients/python`, importable as `wasmpool`): its pytest suite, run
//! from the virtualenv `.ci/setup` makes, against a real `wasmpool serve` that its fixture
//! starts from the binary this suite built, with the guests of the `artifacts` crate and a
//! Python task built by `wasmpool build`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::harness::{WASMPOOL, stderr, stdout};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The virtualenv's Python, or `None` (after saying why) when the test may skip: under CI
/// (`CI` set) a missing one fails the test instead.
pub(super) fn python() -> Option<PathBuf> {
    let path = std::env::var_os("WASMPOOL_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(REPO).join(".venv/bin/python"));
    if path.is_file() {
        return Some(path);
    }
    let message = format!(
        "no Python with pytest at {} (run .ci/setup, or set WASMPOOL_TEST_PYTHON)",
        path.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("skipped: {message}");
    None
}

#[test]
fn the_python_clients_tests_pass_against_a_real_service() {
    let Some(python) = python() else { return };
    // A Python task too (`examples/python/lookup.py`, built once per run by `python.rs`).
    let Some(lookup) = super::python::example("lookup") else { return };
    let guests = [
        ("fib", artifacts::FIB),
        ("probe", artifacts::PROBE),
        ("exit-code", artifacts::EXIT_CODE),
        ("sleeper", artifacts::SLEEPER),
        ("mathlib", artifacts::CALLS),
        ("lookup", lookup.to_str().expect("UTF-8 path")),
    ]
    .map(|(name, path)| format!("{name}={path}"))
    .join(":");
    let out = Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "clients/python/tests"])
        .current_dir(REPO)
        .env("WASMPOOL_BIN", WASMPOOL)
        .env("WASMPOOL_TEST_GUESTS", guests)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // Plain functions: the runner is built by `wasmpool build` with this componentize-py,
        // once, into a cache kept between test runs.
        .env("WASMPOOL_COMPONENTIZE_PY", super::python::componentize_py().expect("checked above"))
        .env("XDG_CACHE_HOME", Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-client-cache"))
        .env_remove("WASMPOOL_RUNNER")
        .env_remove("WASMPOOL_SERVER")
        .env_remove("WASMPOOL_TOKEN")
        .output()
        .expect("pytest runs");
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(" passed"), "{}", stdout(&out));
}

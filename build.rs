//! Build facts for `wasmpool --version`: the git revision this binary was built from
//! ("unknown" outside a git checkout) and the wasmtime version in Cargo.lock.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.lock");
    let revision = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=WASMPOOL_GIT_REVISION={revision}");
    // A commit moves the branch HEAD points at, not HEAD itself, so watch both (and
    // packed-refs, where git may keep the branch). Only files that exist: cargo reruns a
    // build script on every build while one it watches is missing.
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        if let Some(path) = git(&["rev-parse", "--git-path", name])
            && Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let wasmtime = locked_version(&lock, "wasmtime").unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=WASMPOOL_WASMTIME_VERSION={wasmtime}");
}

/// What `git ARGS` prints, trimmed; `None` without git or outside a repository.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

/// The version of package `name` in a Cargo.lock.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{name}\"") {
            let version = lines.next()?.trim().strip_prefix("version = \"")?.strip_suffix('"')?;
            return Some(version.to_string());
        }
    }
    None
}

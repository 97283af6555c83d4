//! Helpers shared by the tests: running the real binary, a pool of real worker processes,
//! and bounded waiting on conditions.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use wasmpool::job::{JobSpec, Limits, ModuleRef};
use wasmpool::pool::{Pool, PoolConfig};
use wasmpool::sandbox::{Compiler, Flavor};

/// The real `wasmpool` binary.
pub const WASMPOOL: &str = env!("CARGO_BIN_EXE_wasmpool");

/// A compiled-module cache shared by all tests, so each guest is compiled once per run.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasmpool-test-cache")
}

/// `wasmpool ARGS...` with the shared cache and no inherited stdin.
pub fn wasmpool(args: &[&str]) -> Command {
    let mut command = Command::new(WASMPOOL);
    command.args(args).env("WASMPOOL_CACHE_DIR", cache_dir()).env_remove("RUST_LOG");
    command
}

/// Runs `command` to completion with `input` on its stdin (a pipe, as from a shell's `|`).
pub fn output_with_stdin(mut command: Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasmpool starts");
    child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
    child.wait_with_output().expect("wasmpool ends")
}

/// Runs `wasmpool ARGS...` to completion.
pub fn output(args: &[&str]) -> Output {
    wasmpool(args).output().expect("wasmpool runs")
}

/// Stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A pool of `workers` real worker processes started from the real binary.
pub fn pool(workers: usize) -> (Pool, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = PoolConfig::new(workers, dir.path().join("work")).expect("config");
    config.executable = PathBuf::from(WASMPOOL);
    (Pool::start(config).expect("pool starts"), dir)
}

/// Compiles a guest into the shared cache.
pub fn module(path: &str, fuel: Option<u64>) -> ModuleRef {
    let bytes = std::fs::read(path).expect("guest built");
    Compiler::new(cache_dir()).compile(&bytes, Flavor::for_fuel(fuel)).expect("guest compiles").0
}

/// A job running `module` with `args` (argv[0] added) under `limits`.
pub fn job(id: &str, module: &ModuleRef, args: &[&str], limits: Limits) -> JobSpec {
    JobSpec {
        id: id.into(),
        module: module.clone(),
        args: std::iter::once("guest").chain(args.iter().copied()).map(String::from).collect(),
        env: Vec::new(),
        stdin: Vec::new(),
        dirs: Vec::new(),
        limits,
        attempt: 1,
        job_env: false,
        call: None,
    }
}

/// Waits until `condition` holds, checking every few milliseconds, for at most `bound`.
pub async fn wait_until(bound: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    condition()
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Pids of a process's children.
pub fn children(pid: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            pids.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    pids
}

/// A valid command module of `functions` empty functions: small to upload, costly to compile
/// (each function costs the compiler memory and time).
pub fn many_functions(functions: u32) -> Vec<u8> {
    fn leb(mut value: u32, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            out.push(if value == 0 { byte } else { byte | 0x80 });
            if value == 0 {
                return;
            }
        }
    }
    fn section(id: u8, content: Vec<u8>, out: &mut Vec<u8>) {
        out.push(id);
        leb(content.len() as u32, out);
        out.extend(content);
    }
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, vec![1, 0x60, 0, 0], &mut module);
    let mut declared = Vec::new();
    leb(functions, &mut declared);
    declared.extend(std::iter::repeat_n(0u8, functions as usize));
    section(3, declared, &mut module);
    let mut exports = vec![1, 6];
    exports.extend(b"_start");
    exports.extend([0, 0]);
    section(7, exports, &mut module);
    let mut code = Vec::new();
    leb(functions, &mut code);
    for _ in 0..functions {
        code.extend([2, 0, 0x0b]);
    }
    section(10, code, &mut module);
    module
}

//! Compiling untrusted uploads outside the host: each compile runs in a short-lived process
//! of its own (`wasmpool compile`, hidden), with a cap on its memory (`RLIMIT_DATA`) and CPU
//! time (`RLIMIT_CPU`), a wall-clock timeout, and at most a few at a time. A module built to
//! be expensive to compile (an 8 MB module of a million tiny functions took 70 s of both cores
//! and 5 GB) costs that process, which is refused and gone, never the host's memory.
//!
//! The child validates and compiles exactly as the host used to (the same `Compiler`, the
//! same engine settings, so the artifact it writes into the cache is what workers load) and
//! answers with one JSON line on its stdout.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::call::Exports;
use crate::sandbox::{Compiler, Flavor, ModuleError};

/// Limits of one compile.
#[derive(Clone, Copy, Debug)]
pub struct CompileLimits {
    /// Heap a compile may use, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock (and CPU) time a compile may take.
    pub timeout: Duration,
    /// Compiles at once.
    pub concurrent: usize,
}

impl Default for CompileLimits {
    fn default() -> Self {
        CompileLimits { memory_bytes: 4 << 30, timeout: Duration::from_secs(300), concurrent: 2 }
    }
}

/// Runs compiles in child processes of `executable`.
pub struct CompileProcesses {
    executable: PathBuf,
    cache: PathBuf,
    limits: CompileLimits,
    slots: Arc<Semaphore>,
}

/// The child's answer.
#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    /// Why the module was refused; `None` when it compiled.
    error: Option<String>,
    /// What it exports, when it compiled.
    #[serde(default)]
    exports: Option<Exports>,
}

impl CompileProcesses {
    /// Compiles with `executable compile`, into the artifact cache at `cache`.
    pub fn new(executable: PathBuf, cache: PathBuf, limits: CompileLimits) -> Self {
        let slots = Arc::new(Semaphore::new(limits.concurrent.max(1)));
        CompileProcesses { executable, cache, limits, slots }
    }

    /// Validates and compiles `bytes` for `flavor` into the cache, in a child process;
    /// returns what the module exports.
    pub async fn compile(&self, bytes: &[u8], flavor: Flavor) -> Result<Exports, ModuleError> {
        let _slot = self.slots.acquire().await.expect("the semaphore is never closed");
        let mut child = tokio::process::Command::new(&self.executable)
            .arg("compile")
            .arg("--cache")
            .arg(&self.cache)
            .arg("--flavor")
            .arg(flavor.as_str())
            .arg("--memory")
            .arg(self.limits.memory_bytes.to_string())
            .arg("--cpu-seconds")
            .arg(self.limits.timeout.as_secs().max(1).to_string())
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                cache_error(&self.executable, format!("cannot start the compiler: {e}"))
            })?;
        let mut stdin = child.stdin.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let talk = async {
            // A child that dies early closes its stdin; what it says then is what counts.
            let _ = stdin.write_all(bytes).await;
            drop(stdin);
            let mut answer = Vec::new();
            let _ = stdout.read_to_end(&mut answer).await;
            (answer, child.wait().await)
        };
        let Ok((answer, status)) = tokio::time::timeout(self.limits.timeout, talk).await else {
            return Err(self.too_costly("took longer than"));
        };
        match serde_json::from_slice::<Answer>(&answer) {
            Ok(Answer { error: None, exports }) => Ok(exports.unwrap_or_default()),
            Ok(Answer { error: Some(reason), .. }) => Err(ModuleError::Refused(reason)),
            Err(_) => Err(self.died(status.ok())),
        }
    }

    fn too_costly(&self, what: &str) -> ModuleError {
        ModuleError::TooCostly(format!(
            "compiling it {what} {:?}, the limit (--compile-timeout)",
            self.limits.timeout
        ))
    }

    /// What a child that gave no answer ran into.
    fn died(&self, status: Option<std::process::ExitStatus>) -> ModuleError {
        match status.and_then(|status| status.signal()) {
            Some(libc::SIGXCPU) | Some(libc::SIGKILL) => self.too_costly("used more CPU time than"),
            _ => ModuleError::TooCostly(format!(
                "compiling it needed more than {} MiB of memory, the limit (--compile-memory)",
                self.limits.memory_bytes >> 20
            )),
        }
    }
}

fn cache_error(path: &Path, message: String) -> ModuleError {
    ModuleError::Cache { path: path.to_path_buf(), message }
}

/// The child's side (`wasmpool compile`): limits itself, reads the module from stdin,
/// compiles it into the cache and prints its answer. Returns whether it compiled.
pub fn child_main(cache: &Path, flavor: Flavor, memory: u64, cpu_seconds: u64) -> bool {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let limit = |value| Rlimit { current: Some(value), maximum: Some(value) };
    let limited = setrlimit(Resource::Data, limit(memory))
        .and_then(|()| setrlimit(Resource::Cpu, limit(cpu_seconds)))
        .and_then(|()| setrlimit(Resource::Core, limit(0)));
    let compiled = match limited {
        Err(e) => Err(format!("cannot limit the compiler: {e}")),
        Ok(()) => {
            let mut bytes = Vec::new();
            match std::io::stdin().read_to_end(&mut bytes) {
                Err(e) => Err(format!("cannot read the module: {e}")),
                Ok(_) => Compiler::new(cache)
                    .compile(&bytes, flavor)
                    .map(|(_, exports)| exports)
                    .map_err(|e| e.to_string()),
            }
        }
    };
    let (error, exports) = match compiled {
        Ok(exports) => (None, Some(exports)),
        Err(error) => (Some(error), None),
    };
    let answer =
        serde_json::to_string(&Answer { error: error.clone(), exports }).expect("serialises");
    let _ = writeln!(std::io::stdout(), "{answer}");
    error.is_none()
}

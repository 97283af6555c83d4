//! What `run` and `map` share: a local pool under a private working directory, the
//! compiled-module cache, and turning a finished job into output and an exit code.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::exit;
use super::notice::with_notice;
use crate::job::{JobSpec, ModuleRef, Outcome};
use crate::pool::{Pool, PoolConfig};
use crate::sandbox::{Compiler, Flavor};
use crate::units::format_size;

/// Where compiled modules are kept between runs.
#[derive(Debug, Clone, Args)]
pub struct CacheOptions {
    /// Directory of compiled modules (default: $XDG_CACHE_HOME/wasmpool or ~/.cache/wasmpool).
    #[arg(long, env = "WASMPOOL_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl CacheOptions {
    fn dir(&self) -> PathBuf {
        if let Some(dir) = &self.cache_dir {
            return dir.clone();
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("wasmpool")
    }

    /// Reads, validates and compiles the module (or finds it compiled already).
    pub fn compile(&self, path: &Path, fuel: Option<u64>) -> anyhow::Result<ModuleRef> {
        let bytes = super::read_input(path)?;
        let what = format!("{} ({})", path.display(), format_size(bytes.len() as u64));
        let message = format!("compiling {what}; later runs take it from the cache");
        with_notice(message, || Compiler::new(self.dir()).compile(&bytes, Flavor::for_fuel(fuel)))
            .map(|(module, _)| module)
            .with_context(|| path.display().to_string())
    }
}

/// A multi-threaded runtime: worker processes must be spawned from threads that live as long
/// as the pool, which the runtime's worker threads do.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    runtime_with(0)
}

/// A runtime of `threads` threads: 0 for one per core, 1 for a current-thread runtime (its
/// tasks, the slot drivers that spawn workers among them, run on the thread that blocks on
/// it, which lives as long as the pool), more for that many worker threads.
pub fn runtime_with(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    match threads {
        0 => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
}

/// Starts a local pool of `workers` processes in a private temporary directory.
pub fn start_pool(workers: usize) -> anyhow::Result<Pool> {
    let temp = std::env::temp_dir();
    sweep_abandoned(&temp);
    let work_dir = temp.join(format!("{WORK_DIR_PREFIX}{}", std::process::id()));
    let config =
        PoolConfig::new(workers, work_dir).context("cannot locate the wasmpool executable")?;
    Pool::start(config).context("cannot create the pool's working directory")
}

/// `run` and `map` work in `<temp>/wasmpool-<pid>`.
const WORK_DIR_PREFIX: &str = "wasmpool-";

/// Removes the working directories of `run` and `map` processes that were killed before they
/// could clean up: `wasmpool-<pid>` for a pid no longer running, holding nothing but worker
/// directories. Anything else is left alone.
fn sweep_abandoned(temp: &Path) {
    let Ok(entries) = std::fs::read_dir(temp) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|name| name.strip_prefix(WORK_DIR_PREFIX));
        let Some(pid) = pid.and_then(|pid| pid.parse::<u32>().ok()) else { continue };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = entry.path();
        let only_workers = std::fs::read_dir(&dir).is_ok_and(|mut inside| {
            inside.all(|entry| {
                entry.is_ok_and(|entry| {
                    entry.file_name().to_str().is_some_and(|name| name.starts_with("worker-"))
                })
            })
        });
        if only_workers {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// The program name the guest sees as `argv[0]`: the module's file name.
pub fn program_name(path: &Path) -> String {
    path.file_name().map_or_else(|| "main.wasm".into(), |name| name.to_string_lossy().into_owned())
}

/// Builds a job for a locally compiled module.
pub fn job(
    id: String,
    module: &ModuleRef,
    argv: Vec<String>,
    options: &super::options::JobOptions,
    stdin: Vec<u8>,
) -> JobSpec {
    JobSpec {
        id,
        module: module.clone(),
        args: argv,
        env: options.env.clone(),
        stdin,
        dirs: options.dirs.clone(),
        limits: options.limits(),
        attempt: 1,
        job_env: options.job_env,
        call: None,
    }
}

/// The exit code that stands for how a job ended.
pub fn exit_code(outcome: &Outcome) -> u8 {
    match outcome {
        // The OS keeps the low 8 bits of an exit status, as for any process.
        Outcome::Exited(code) => (*code & 0xff) as u8,
        Outcome::TimedOut(_) => exit::TIMED_OUT,
        Outcome::Trapped(_) | Outcome::MemoryLimit(_) | Outcome::FuelExhausted(_) => exit::TRAPPED,
        Outcome::Cancelled => exit::CANCELLED,
        Outcome::LoadFailed(_) | Outcome::WorkerDied(_) | Outcome::Unrunnable(_) => {
            exit::HOST_ERROR
        }
        Outcome::Returned => 0,
        Outcome::ReturnedErr(_) => 1,
    }
}

//! The only code that touches wasmtime: engine settings, limits, the compiled-module cache,
//! and running a WASI preview 1 command module or preview 2 command component.
//!
//! The host uses [`Compiler`] to validate and compile modules into the artifact cache; each
//! worker process uses [`Sandbox`] to load artifacts (keeping recently used ones ready to
//! instantiate) and run jobs, one fresh `Store` per job.

mod call;
mod compile;
mod engine;
mod limiter;
mod output;
mod run;
mod state;
mod task;
mod watchdog;

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use wasmtime::Engine;

pub use compile::{ArtifactCache, ModuleError, content_hash, detect_kind};
pub use engine::{EPOCH_TICK, Flavor, MAX_MEMORY_BYTES};
pub use run::JobEnv;
pub use task::TaskBackend;
pub use watchdog::Overran;

use crate::job::{JobResult, JobSpec, ModuleRef, Outcome};
use compile::Prepared;
use state::{P1State, P2State};
use watchdog::Watchdog;

/// An engine of one flavour with its WASI linkers.
pub struct Flavored {
    engine: Engine,
    p1: wasmtime::Linker<P1State>,
    p2: wasmtime::component::Linker<P2State>,
    tag: String,
}

impl Flavored {
    fn new(flavor: Flavor) -> wasmtime::Result<Self> {
        let engine = engine::new_engine(flavor)?;
        if flavor.checks_epochs() {
            engine::start_epoch_ticker(&engine);
        }
        Ok(Flavored {
            p1: state::p1_linker(&engine)?,
            p2: state::p2_linker(&engine)?,
            tag: engine::artifact_tag(&engine, flavor),
            engine,
        })
    }
}

/// Both flavours, each built on first use.
#[derive(Default)]
struct Engines {
    plain: OnceLock<Flavored>,
    metered: OnceLock<Flavored>,
}

impl Engines {
    fn get(&self, flavor: Flavor) -> Result<&Flavored, ModuleError> {
        let cell = match flavor {
            Flavor::Plain => &self.plain,
            Flavor::Metered => &self.metered,
        };
        if let Some(flavored) = cell.get() {
            return Ok(flavored);
        }
        let flavored = Flavored::new(flavor).map_err(|e| ModuleError::Cache {
            path: Default::default(),
            message: format!("cannot create the wasmtime engine: {e:#}"),
        })?;
        Ok(cell.get_or_init(|| flavored))
    }
}

/// Host side: validates and compiles modules into the artifact cache.
pub struct Compiler {
    engines: Engines,
    cache: ArtifactCache,
}

impl Compiler {
    /// A compiler writing artifacts into `cache_dir`.
    pub fn new(cache_dir: impl AsRef<Path>) -> Self {
        Compiler { engines: Engines::default(), cache: ArtifactCache::new(cache_dir.as_ref()) }
    }

    /// The cached artifact of an already compiled module, if there is one.
    pub fn cached(&self, hash: &str, flavor: Flavor) -> Option<std::path::PathBuf> {
        let path = self.cache.path(hash, &self.engines.get(flavor).ok()?.tag);
        path.exists().then_some(path)
    }

    /// Validates the bytes as a runnable WASI command (or a module with functions to call)
    /// and returns where its compiled artifact for `flavor` lies, compiling it only if it is
    /// not cached yet, and what it exports.
    pub fn compile(
        &self,
        bytes: &[u8],
        flavor: Flavor,
    ) -> Result<(ModuleRef, crate::call::Exports), ModuleError> {
        self.cache.compile(self.engines.get(flavor)?, flavor, bytes)
    }
}

/// How many prepared modules a worker keeps ready to instantiate.
const READY_MODULES: usize = 32;

/// Worker side: loads artifacts, keeps recently used ones ready, runs jobs.
pub struct Sandbox {
    engines: Engines,
    ready: HashMap<(String, Flavor), (Prepared, u64)>,
    uses: u64,
    env: JobEnv,
    watchdog: Watchdog,
}

impl Sandbox {
    /// A sandbox for the worker process with this pid, sending `wasmpool:task` calls to
    /// `backend`, and the result of a job its watchdog ends at the job's deadline to
    /// `overran` (see [`Sandbox::run`]).
    pub fn new(
        worker_pid: u32,
        backend: Option<std::sync::Arc<dyn TaskBackend>>,
        overran: Overran,
    ) -> Self {
        Sandbox {
            engines: Engines::default(),
            ready: HashMap::new(),
            uses: 0,
            env: JobEnv { worker_pid, backend },
            watchdog: Watchdog::new(overran),
        }
    }

    /// Runs one job to its end. Never panics on a bad module: that becomes the outcome.
    ///
    /// `None` when a job without a fuel limit was still computing at its timeout: the
    /// watchdog then sent its `timed_out` result to `overran`, and this sandbox's thread was
    /// inside the guest until now (or still is), so its worker must be replaced.
    pub async fn run(&mut self, job: JobSpec) -> Option<JobResult> {
        let flavor = Flavor::for_fuel(job.limits.fuel);
        let engine = match self.engines.get(flavor) {
            Ok(flavored) => flavored.engine.clone(),
            Err(e) => {
                return Some(JobResult::without_output(job.id, Outcome::LoadFailed(e.to_string())));
            }
        };
        if let Err(e) = self.make_ready(&job.module, flavor) {
            return Some(JobResult::without_output(job.id, Outcome::LoadFailed(e.to_string())));
        }
        let (prepared, _) = &self.ready[&(job.module.hash.clone(), flavor)];
        let watchdog = (!flavor.checks_epochs()).then_some(&mut self.watchdog);
        run::run(&engine, prepared, job, &self.env, watchdog).await
    }

    /// Ensures the module is loaded and prepared, evicting the least recently used one when
    /// the worker holds too many.
    fn make_ready(&mut self, module: &ModuleRef, flavor: Flavor) -> Result<(), ModuleError> {
        self.uses += 1;
        let key = (module.hash.clone(), flavor);
        if let Some((_, last_use)) = self.ready.get_mut(&key) {
            *last_use = self.uses;
            return Ok(());
        }
        let flavored = self.engines.get(flavor)?;
        let prepared = compile::load(flavored, module.kind, &module.artifact)?;
        if self.ready.len() >= READY_MODULES
            && let Some(oldest) =
                self.ready.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone())
        {
            self.ready.remove(&oldest);
        }
        self.ready.insert(key, (prepared, self.uses));
        Ok(())
    }
}

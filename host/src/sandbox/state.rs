//! Per-store state of a job and the linkers that give guests WASI (and nothing else).

use wasmtime::Engine;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limiter::JobLimiter;
use super::task::{self, TaskContext};

/// Store state of a preview 1 module.
pub struct P1State {
    /// The WASI preview 1 context.
    pub wasi: WasiP1Ctx,
    /// The job's memory limiter.
    pub limiter: JobLimiter,
}

/// Store state of a preview 2 component.
pub struct P2State {
    /// The WASI context.
    pub ctx: WasiCtx,
    /// Resources the component holds.
    pub table: ResourceTable,
    /// The job's memory limiter.
    pub limiter: JobLimiter,
    /// The job's `wasmpool:task` context.
    pub task: TaskContext,
}

impl WasiView for P2State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

/// The state of either kind, so the limiter can be reached without knowing which.
pub trait JobState: Send + 'static {
    /// The job's memory limiter.
    fn limiter(&mut self) -> &mut JobLimiter;
}

impl JobState for P1State {
    fn limiter(&mut self) -> &mut JobLimiter {
        &mut self.limiter
    }
}

impl JobState for P2State {
    fn limiter(&mut self) -> &mut JobLimiter {
        &mut self.limiter
    }
}

/// A core-module linker with WASI preview 1 (async) and nothing else.
pub fn p1_linker(engine: &Engine) -> wasmtime::Result<wasmtime::Linker<P1State>> {
    let mut linker = wasmtime::Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut P1State| &mut state.wasi)?;
    Ok(linker)
}

/// A component linker with WASI preview 2 (async) and the `wasmpool:task` world.
pub fn p2_linker(engine: &Engine) -> wasmtime::Result<wasmtime::component::Linker<P2State>> {
    let mut linker = wasmtime::component::Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    task::add_to_linker(&mut linker)?;
    Ok(linker)
}

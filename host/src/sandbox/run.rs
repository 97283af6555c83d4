//! Running one job in a fresh store: WASI context from the job spec (deny by default),
//! limits applied, output captured with a cap, and whatever ended the run classified into an
//! [`Outcome`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use wasmtime::component::Val;

use super::call;
use super::compile::Prepared;
use super::engine::deadline_ticks;
use super::limiter::{JobLimiter, MemoryLimitExceeded};
use super::output::CappedOutput;
use super::state::{JobState, P1State, P2State};
use super::task::{TaskBackend, TaskContext};
use super::watchdog::Watchdog;
use crate::call::{FuncType, Named, Value, check_params, results_json, to_json};
use crate::job::{Call, JobResult, JobSpec, Outcome, Stream};

/// What the worker adds to every job: its pid and where `wasmpool:task` calls go.
pub struct JobEnv {
    /// Pid of the worker process, exposed as `WASMPOOL_WORKER_PID` to jobs that ask for it.
    pub worker_pid: u32,
    /// Where the job's `wasmpool:task` calls go.
    pub backend: Option<Arc<dyn TaskBackend>>,
}

/// The guest's captured stdout and stderr.
struct Capture {
    stdout: CappedOutput,
    stderr: CappedOutput,
}

impl Capture {
    /// Captures of `cap` bytes each, passed on to `backend` as they are written.
    fn new(cap: u64, backend: Option<&Arc<dyn TaskBackend>>) -> Self {
        let capture = |stream| CappedOutput::new(cap).forwarding(stream, backend.cloned());
        Capture { stdout: capture(Stream::Stdout), stderr: capture(Stream::Stderr) }
    }
}

/// Runs a prepared module for one job and reports how it went; `None` when `watchdog` ended
/// the job at its deadline while the guest computed (and so sent its result itself).
pub async fn run(
    engine: &Engine,
    prepared: &Prepared,
    job: JobSpec,
    env: &JobEnv,
    watchdog: Option<&mut Watchdog>,
) -> Option<JobResult> {
    let started = Instant::now();
    let capture = Capture::new(job.limits.output_bytes, env.backend.as_ref());
    let armed = match (watchdog, job.limits.timeout) {
        (Some(dog), Some(timeout)) => {
            match dog.arm(&job.id, timeout, started, &capture.stdout, &capture.stderr) {
                Ok(armed) => Some((dog, armed)),
                Err(e) => {
                    let message = format!("cannot watch the job's timeout: {e}");
                    return Some(JobResult::without_output(job.id, Outcome::LoadFailed(message)));
                }
            }
        }
        _ => None,
    };
    let result = run_guest(engine, prepared, job, env, capture, started).await;
    match armed {
        Some((dog, armed)) => dog.disarm(armed).then_some(result),
        None => Some(result),
    }
}

/// Runs the guest: the store, the instance, the command or call, and what ended it.
async fn run_guest(
    engine: &Engine,
    prepared: &Prepared,
    mut job: JobSpec,
    env: &JobEnv,
    capture: Capture,
    started: Instant,
) -> JobResult {
    let stdin = std::mem::take(&mut job.stdin);
    let builder = match wasi_builder(&job, env, &capture, stdin) {
        Ok(builder) => builder,
        Err(message) => return JobResult::without_output(job.id, Outcome::LoadFailed(message)),
    };
    let limiter = JobLimiter::new(job.limits.memory_bytes);
    let call = job.call.take();
    let mut returned = None;
    let (outcome, fuel_used, peak) = match prepared {
        Prepared::Module { pre, command } => {
            let mut builder = builder;
            let state = P1State { wasi: builder.build_p1(), limiter };
            let mut store = new_store(engine, state, &job);
            let run = async {
                let instance = pre.instantiate_async(&mut store).await?;
                if let Some(call) = &call {
                    let value = call_core(&mut store, &instance, call).await?;
                    returned = Some(value);
                    return Ok(Ended::Returned);
                }
                if !command {
                    return Err(not_a_command());
                }
                let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                start.call_async(&mut store, ()).await.map(|()| Ended::Exited(0))
            };
            let ended = within(job.limits.timeout, run).await;
            conclude(&mut store, &job, ended)
        }
        Prepared::Component { pre, command } => {
            let mut builder = builder;
            let task = TaskContext {
                backend: env.backend.clone(),
                job_id: job.id.clone(),
                attempt: job.attempt,
            };
            let state =
                P2State { ctx: builder.build(), table: ResourceTable::new(), limiter, task };
            let mut store = new_store(engine, state, &job);
            let run = async {
                if let Some(call) = &call {
                    let instance = pre.instantiate_async(&mut store).await?;
                    let (value, ended) = call_component(&mut store, &instance, call).await?;
                    returned = Some(value);
                    return Ok(ended);
                }
                let Some(command) = command else { return Err(not_a_command()) };
                let command = command.instantiate_async(&mut store).await?;
                let status = command.wasi_cli_run().call_run(&mut store).await?;
                Ok(Ended::Exited(if status.is_ok() { 0 } else { 1 }))
            };
            let ended = within(job.limits.timeout, run).await;
            conclude(&mut store, &job, ended)
        }
    };
    let (stdout, stdout_truncated) = capture.stdout.take();
    let (stderr, stderr_truncated) = capture.stderr.take();
    JobResult {
        id: job.id,
        outcome,
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
        fuel_used,
        peak_memory_bytes: peak,
        run_time: started.elapsed(),
        returned: returned.map(|value| value.to_string()),
    }
}

/// A WASI context granting only what the job spec names: no network, no files beyond the
/// granted directories, no inherited environment.
fn wasi_builder(
    job: &JobSpec,
    env: &JobEnv,
    capture: &Capture,
    stdin: Vec<u8>,
) -> Result<WasiCtxBuilder, String> {
    let mut builder = WasiCtxBuilder::new();
    builder.args(&job.args).envs(&job.env);
    if job.job_env {
        builder
            .env("WASMPOOL_JOB_ID", &job.id)
            .env("WASMPOOL_WORKER_PID", env.worker_pid.to_string());
    }
    builder
        .stdin(MemoryInputPipe::new(stdin))
        .stdout(capture.stdout.clone())
        .stderr(capture.stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    for dir in &job.dirs {
        let perms = if dir.read_only { FsPerms::ReadOnly } else { FsPerms::ReadWrite };
        builder
            .preopened_dir(&dir.host, &dir.guest, perms)
            .map_err(|e| format!("cannot open granted directory {}: {e:#}", dir.host.display()))?;
    }
    Ok(builder)
}

fn new_store<T: JobState>(engine: &Engine, state: T, job: &JobSpec) -> Store<T> {
    let mut store = Store::new(engine, state);
    store.limiter(|state| state.limiter());
    if let Some(fuel) = job.limits.fuel {
        // Only the metered engine checks epochs (see `Flavor`); the others' timeouts are the
        // watchdog's.
        store.set_epoch_deadline(deadline_ticks(job.limits.timeout));
        store.epoch_deadline_trap();
        // Only fails when the engine does not meter fuel, which `Flavor` rules out.
        let _ = store.set_fuel(fuel);
    }
    store
}

/// Drives the run under the job's timeout. This catches guests blocked in a host call (a
/// WASI sleep), which no epoch deadline can interrupt, without losing the worker; a guest
/// computing is stopped by the epoch deadline a moment earlier (with a fuel limit) or by the
/// watchdog a moment later (without).
async fn within(
    timeout: Option<Duration>,
    run: impl Future<Output = wasmtime::Result<Ended>>,
) -> wasmtime::Result<Ended> {
    match timeout {
        Some(limit) => tokio::time::timeout(limit + Duration::from_millis(5), run)
            .await
            .unwrap_or_else(|_| Err(Trap::Interrupt.into())),
        None => run.await,
    }
}

/// Classifies the end of the run and reads the fuel and memory figures from the store.
fn conclude<T: JobState>(
    store: &mut Store<T>,
    job: &JobSpec,
    ended: wasmtime::Result<Ended>,
) -> (Outcome, Option<u64>, u64) {
    let outcome = match ended {
        Ok(Ended::Exited(code)) => Outcome::Exited(code),
        Ok(Ended::Returned) => Outcome::Returned,
        Ok(Ended::ReturnedErr(error)) => Outcome::ReturnedErr(error),
        Err(error) if error.downcast_ref::<CallRefused>().is_some() => {
            Outcome::LoadFailed(format!("{error:#}"))
        }
        Err(error) => classify(error, job),
    };
    let fuel_used = job.limits.fuel.map(|fuel| fuel.saturating_sub(store.get_fuel().unwrap_or(0)));
    let peak = store.data_mut().limiter().peak();
    (outcome, fuel_used, peak)
}

/// Names what ended a run that did not return normally.
fn classify(error: wasmtime::Error, job: &JobSpec) -> Outcome {
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return Outcome::Exited(exit.0);
    }
    if let Some(limit) = error.downcast_ref::<MemoryLimitExceeded>() {
        return Outcome::MemoryLimit(limit.limit);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Outcome::TimedOut(job.limits.timeout.unwrap_or_default()),
        Some(Trap::OutOfFuel) => Outcome::FuelExhausted(job.limits.fuel.unwrap_or_default()),
        Some(trap) => Outcome::Trapped(describe_trap(trap, &error)),
        None => Outcome::Trapped(format!("{error:#}")),
    }
}

/// The trap's message, with the innermost named wasm function when the module has names.
fn describe_trap(trap: &Trap, error: &wasmtime::Error) -> String {
    let function = error
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .and_then(|trace| trace.frames().iter().find_map(|frame| frame.func_name()))
        .map(|name| format!(" in `{name}`"));
    format!("{trap}{}", function.unwrap_or_default())
}

/// How a run that did not trap ended.
enum Ended {
    /// A command exited with this code.
    Exited(i32),
    /// A call returned.
    Returned,
    /// A call returned an `err` result (the error value as JSON).
    ReturnedErr(String),
}

/// A call the module cannot take (checked at submission, so only when the module changed
/// under a job, or a command job names a module without a command).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CallRefused(String);

fn not_a_command() -> wasmtime::Error {
    CallRefused(
        "the module is not a WASI command (no `_start` or `wasi:cli/run`); call one of its \
         exported functions instead"
            .into(),
    )
    .into()
}

/// Calls a core module's exported function (after `_initialize`, for a reactor) and returns
/// its results as JSON.
async fn call_core(
    store: &mut Store<P1State>,
    instance: &wasmtime::Instance,
    call: &Call,
) -> wasmtime::Result<serde_json::Value> {
    let refused = |message: String| wasmtime::Error::from(CallRefused(message));
    if let Some(init) = instance.get_func(&mut *store, "_initialize") {
        init.call_async(&mut *store, &[], &mut []).await?;
    }
    let func = instance
        .get_func(&mut *store, &call.function)
        .ok_or_else(|| refused(format!("the module exports no function `{}`", call.function)))?;
    let ty = func.ty(&*store);
    let params = FuncType {
        params: ty
            .params()
            .enumerate()
            .map(|(i, ty)| Named { name: format!("p{i}"), ty: call::core_type(&ty) })
            .collect(),
        results: Vec::new(),
    };
    let json: serde_json::Value =
        serde_json::from_str(&call.params).map_err(|e| refused(e.to_string()))?;
    let values = check_params(&call.function, &params, &json).map_err(refused)?;
    let values =
        values.into_iter().map(call::to_core).collect::<Result<Vec<_>, _>>().map_err(refused)?;
    let mut results = vec![wasmtime::Val::I32(0); ty.results().len()];
    func.call_async(&mut *store, &values, &mut results).await?;
    let results =
        results.iter().map(call::from_core).collect::<Result<Vec<_>, _>>().map_err(refused)?;
    Ok(results_json(&results))
}

/// Calls a component's exported function (`name`, or `iface#name` for an exported
/// interface's) and returns its result as JSON, and whether it was an `err`.
async fn call_component(
    store: &mut Store<P2State>,
    instance: &wasmtime::component::Instance,
    call: &Call,
) -> wasmtime::Result<(serde_json::Value, Ended)> {
    let refused = |message: String| wasmtime::Error::from(CallRefused(message));
    let missing = || refused(format!("the component exports no function `{}`", call.function));
    let index = match call.function.rsplit_once('#') {
        Some((interface, name)) => {
            let interface =
                instance.get_export_index(&mut *store, None, interface).ok_or_else(missing)?;
            instance.get_export_index(&mut *store, Some(&interface), name).ok_or_else(missing)?
        }
        None => instance.get_export_index(&mut *store, None, &call.function).ok_or_else(missing)?,
    };
    let func = instance.get_func(&mut *store, index).ok_or_else(missing)?;
    let ty = func.ty(&*store);
    let params = FuncType {
        params: ty
            .params()
            .map(|(name, ty)| Named { name: name.to_string(), ty: call::value_type(&ty) })
            .collect(),
        results: Vec::new(),
    };
    let json: serde_json::Value =
        serde_json::from_str(&call.params).map_err(|e| refused(e.to_string()))?;
    let values = check_params(&call.function, &params, &json).map_err(refused)?;
    let values: Vec<Val> = values.into_iter().map(call::to_val).collect();
    let mut results = vec![Val::Bool(false); ty.results().len()];
    func.call_async(&mut *store, &values, &mut results).await?;
    let results =
        results.iter().map(call::from_val).collect::<Result<Vec<_>, _>>().map_err(refused)?;
    let ended = match results.as_slice() {
        [Value::Result(Err(error))] => {
            let error = error.as_deref().map_or(serde_json::Value::Null, to_json);
            Ended::ReturnedErr(match error {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            })
        }
        _ => Ended::Returned,
    };
    Ok((results_json(&results), ended))
}

//! `wasmpool call MODULE 'square(7)'`: a job that calls an exported function of a module on a
//! running service, like `pool.apply(f, (x,))`: the arguments in WAVE (as `wasmtime run
//! --invoke` takes them), the result printed in WAVE (its JSON with `--json`). `submit
//! --call` submits the same job without waiting.

use std::process::ExitCode;

use clap::Args;

use super::remote::RemoteOptions;
use super::submit::{JobOptions, module_ref_of};
use super::wait::{job_exit_code, wait_for};
use super::{exit, wave};
use crate::call::Exports;
use crate::client::Client;
use crate::wire::{JobRequest, JobState, JobView};

/// Call an exported function of a module on a running service and print what it returned.
/// MODULE is an uploaded module's hash or name, or a path to a .wasm file (uploaded first);
/// CALL is the function and its arguments in WAVE, e.g. 'square(7)', 'greet("ann")',
/// 'my:pkg/iface#area(circle(2.0))'. Exits 0 when it returned, 1 when it returned an `err`
/// result (printed on stderr), as `wait` does otherwise (124 timed out, 134 trapped).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool call mathlib 'square(7)'                  (prints 49)
  wasmpool call --json mathlib 'square(7)'           (prints the result as JSON)
  wasmpool call --timeout 2s shapes.wasm 'my:shapes/geometry#area(circle(2.0))'")]
pub struct CallCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    #[command(flatten)]
    job: JobOptions,
    /// The module: its hash or name, or a .wasm file to upload.
    #[arg(value_name = "MODULE")]
    module: String,
    /// The function and its arguments in WAVE: FUNCTION(ARGS…).
    #[arg(value_name = "CALL")]
    call: String,
}

impl CallCommand {
    /// Submits the call, waits for it and prints its result.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let stdin = self.job.read_stdin()?;
        self.remote.run(async |client| {
            let module = module_ref_of(&client, &self.module, true).await?;
            let mut request = self.job.request_for(module.clone(), Vec::new(), stdin);
            let exports = with_call(&client, &module, &self.call, &mut request).await?;
            let accepted = client
                .submit(&request, None)
                .await
                .map_err(|error| self.job.in_users_terms(error))?;
            let job = wait_for(&client, accepted.id, None).await?;
            report(&job, &exports, self.remote.json)
        })
    }
}

/// Fetches the module's exports and puts the WAVE call into `request`; returns the exports
/// (their types print the result).
pub(super) async fn with_call(
    client: &Client,
    module: &str,
    call: &str,
    request: &mut JobRequest,
) -> anyhow::Result<Exports> {
    let exports: Exports = client.exports(module).await?;
    let (function, params) = wave::parse_call(call, &exports).map_err(super::UsageError)?;
    request.call = Some(function);
    request.params = Some(params);
    Ok(exports)
}

/// Prints an ended call's result (WAVE, or JSON with `json`) or why it failed; returns the
/// exit code for it.
pub(super) fn report(job: &JobView, exports: &Exports, json: bool) -> anyhow::Result<ExitCode> {
    let function = job.call.as_deref().unwrap_or_default();
    if job.state == JobState::Succeeded {
        let result = job.result.clone().unwrap_or(serde_json::Value::Null);
        if json {
            println!("{result}");
        } else if let Some(ty) = exports.functions.get(function) {
            let text = wave::format_result(ty, &result).map_err(anyhow::Error::msg)?;
            if !text.is_empty() {
                println!("{text}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let error = job.error.as_deref().unwrap_or(job.state.as_str());
    eprintln!("wasmpool: job {} {}: {error}", job.id, job.state);
    if let Some(stderr) = job.stderr.as_deref().filter(|text| !text.is_empty()) {
        eprint!("{stderr}");
    }
    if error.starts_with("returned err") {
        if json && let Some(result) = &job.result {
            println!("{result}");
        }
        return Ok(ExitCode::from(exit::API_ERROR));
    }
    Ok(ExitCode::from(job_exit_code(job)))
}

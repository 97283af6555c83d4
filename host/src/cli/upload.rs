//! `wasmpool upload`: puts a `.wasm` module on a running service, which validates and
//! compiles it once; jobs then name it by hash or name.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::remote::{RemoteOptions, or_dash};
use crate::units::format_size;
use crate::wire::ModuleView;

/// Upload a WASI module or component and print `HASH  KIND  SIZE  NAME`. Uploading the same
/// bytes again is harmless: the module is known by its SHA-256. A FILE that cannot be read
/// (missing, a directory) exits 66.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool upload --name fib fib.wasm
  wasmpool upload --name render --max-running 2 render.wasm
  hash=$(wasmpool upload task.wasm | cut -d' ' -f1)")]
pub struct UploadCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    /// Point this name at the module (a later upload under the same name takes it over).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Run at most K of the module's jobs at once across the cluster (see `wasmpool modules
    /// set` to change or clear it later).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    max_running: Option<u32>,
    /// The .wasm file.
    file: PathBuf,
}

impl UploadCommand {
    /// Uploads the file and prints what the service made of it.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let bytes = super::read_input(&self.file)?;
        let message = format!(
            "uploading {} ({}); the service validates and compiles it",
            self.file.display(),
            format_size(bytes.len() as u64)
        );
        let mut uploaded = None;
        let code = super::notice::with_notice(message, || {
            self.remote.run(async |client| {
                let name = self.name.as_deref();
                uploaded = Some(client.upload_capped(bytes, name, self.max_running).await?);
                Ok(ExitCode::SUCCESS)
            })
        })?;
        // The notice is gone by now: print after it, not through it.
        if let Some(module) = uploaded
            && !self.remote.print_json(&module)?
        {
            println!("{}", summary(&module));
        }
        Ok(code)
    }
}

/// One line: the full hash first, so scripts can cut it.
fn summary(module: &ModuleView) -> String {
    format!(
        "{}  {}  {}  {}",
        module.hash,
        module.kind,
        format_size(module.size),
        or_dash(module.name.as_ref())
    )
}

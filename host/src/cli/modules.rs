//! `wasmpool modules`: the modules a running service knows, and deleting one.

use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Args, Subcommand};

use super::remote::{RemoteOptions, ago, short_hash, table};
use crate::units::format_size;
use crate::wire::ModuleView;

/// List the service's modules, or show or delete one.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool modules
  wasmpool modules show fib
  wasmpool modules rm 3f2a9c1b8e7d...    (refused while queued jobs use it)")]
pub struct ModulesCommand {
    #[command(flatten)]
    remote: RemoteOptions,
    #[command(subcommand)]
    action: Option<ModulesAction>,
}

/// What to do with modules (default: list them).
#[derive(Debug, Subcommand)]
enum ModulesAction {
    /// Show one module.
    Show {
        /// The module's hash or name.
        module: String,
    },
    /// Delete a module.
    Rm {
        /// The module's hash or name.
        module: String,
    },
}

impl ModulesCommand {
    /// Lists, shows or deletes.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            match &self.action {
                None => {
                    let modules = client.modules().await?;
                    if !self.remote.print_json(&modules)? {
                        print!("{}", render(&modules, SystemTime::now()));
                    }
                }
                Some(ModulesAction::Show { module }) => {
                    let module = client.module(module).await?;
                    if !self.remote.print_json(&module)? {
                        print!("{}", render(std::slice::from_ref(&module), SystemTime::now()));
                    }
                }
                Some(ModulesAction::Rm { module }) => {
                    client.delete_module(module).await?;
                    if !self.remote.print_json(&serde_json::json!({ "deleted": module }))? {
                        println!("{module} deleted");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

fn render(modules: &[ModuleView], now: SystemTime) -> String {
    let mut rows = vec![["HASH", "KIND", "SIZE", "NAMES", "CREATED"].map(String::from).to_vec()];
    rows.extend(modules.iter().map(|module| {
        let names = if module.names.is_empty() { "-".to_string() } else { module.names.join(",") };
        vec![
            short_hash(&module.hash).to_string(),
            module.kind.clone(),
            format_size(module.size),
            names,
            ago(&module.created_at, now),
        ]
    }));
    table(&rows)
}

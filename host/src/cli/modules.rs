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
  wasmpool modules rm 3f2a9c1b8e7d...    (refused while queued jobs use it)
  wasmpool modules set render --max-running 2
  wasmpool modules set render --max-running none")]
pub struct ModulesCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
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
    /// Change a module: its cap on jobs running at once across the cluster.
    Set {
        /// The module's hash or name.
        module: String,
        /// At most K of its jobs run at once (`none`: no cap).
        #[arg(long, value_name = "K|none", value_parser = parse_cap)]
        max_running: Cap,
    },
}

/// A cap given on the command line: a number from 1, or `none`.
#[derive(Clone, Copy, Debug)]
struct Cap(Option<u32>);

fn parse_cap(text: &str) -> Result<Cap, String> {
    if text == "none" {
        return Ok(Cap(None));
    }
    match text.parse::<u32>() {
        Ok(cap) if cap >= 1 => Ok(Cap(Some(cap))),
        _ => Err(format!("`{text}` is not a number from 1 or `none`")),
    }
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
                        print!("{}", describe(&module));
                    }
                }
                Some(ModulesAction::Set { module, max_running }) => {
                    let module = client.set_max_running(module, max_running.0).await?;
                    if !self.remote.print_json(&module)? {
                        print!("{}", describe(&module));
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

/// One module with its full hash.
fn describe(module: &ModuleView) -> String {
    let rows = [
        ("hash", module.hash.clone()),
        ("kind", module.kind.clone()),
        ("size", format_size(module.size)),
        ("names", module.names.join(", ")),
        ("created", module.created_at.clone()),
        ("max running", module.max_running.map_or("no cap".into(), |cap| cap.to_string())),
    ];
    table(&rows.map(|(label, value)| vec![label.to_string(), value]))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn module(hash: &str, names: &[&str], size: u64) -> ModuleView {
        ModuleView {
            hash: hash.repeat(64 / hash.len()),
            name: names.first().map(|name| name.to_string()),
            names: names.iter().map(|name| name.to_string()).collect(),
            size,
            kind: "module".into(),
            created_at: "2025-01-02T03:00:00Z".into(),
            max_running: None,
        }
    }

    #[test]
    fn table_of_modules() {
        let now = super::super::remote::parse_time("2025-01-02T03:04:05Z").expect("valid");
        let modules = [module("ab", &["fib", "fib-v2"], 70_000), module("0", &[], 512)];
        assert_eq!(
            render(&modules, now),
            "HASH          KIND    SIZE      NAMES       CREATED
abababababab  module  68.4 KiB  fib,fib-v2  4m ago
000000000000  module  512 B     -           4m ago
"
        );
    }
}

//! `wasmpool completions SHELL`: the shell completion script, generated from the same clap
//! definitions the parser uses, so it cannot fall behind the verbs.

use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Print a completion script for SHELL on stdout.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  source <(wasmpool completions bash)
  wasmpool completions zsh > \"${fpath[1]}/_wasmpool\"
  wasmpool completions fish > ~/.config/fish/completions/wasmpool.fish")]
pub struct CompletionsCommand {
    /// The shell: bash, zsh, fish (or elvish, powershell).
    shell: Shell,
}

impl CompletionsCommand {
    /// Writes the script.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let mut command = super::Cli::command();
        clap_complete::generate(self.shell, &mut command, "wasmpool", &mut std::io::stdout());
        Ok(ExitCode::SUCCESS)
    }
}

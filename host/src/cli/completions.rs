//! `wasmpool completions SHELL`: the shell completion script, generated from the same clap
//! definitions the parser uses, so it cannot fall behind the verbs.

use std::process::ExitCode;

use clap::{Args, Command, CommandFactory};
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
        let mut command = visible(super::Cli::command());
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut command, "wasmpool", &mut script);
        super::write_stdout(&script)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// `command` without its hidden verbs (`worker`, `compile`): clap_complete's bash script
/// would offer them, and they are not for users.
fn visible(command: Command) -> Command {
    let verbs: Vec<Command> =
        command.get_subcommands().filter(|verb| !verb.is_hide_set()).cloned().collect();
    Command::new("wasmpool")
        .version(super::VERSION)
        .args(command.get_arguments().cloned())
        .subcommands(verbs)
}

//! The `wasmpool` binary: parse the command line, set up logging, run the verb.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = wasmpool::cli::Cli::parse();
    cli.init_tracing();
    cli.execute()
}

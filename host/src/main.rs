//! The `wasmpool` binary: parse the command line, set up logging, run the verb.

fn main() -> std::process::ExitCode {
    let cli = wasmpool::cli::Cli::from_env();
    cli.init_tracing();
    cli.execute()
}

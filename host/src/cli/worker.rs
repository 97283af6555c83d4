//! `wasmpool worker`: the hidden verb a pool starts its worker processes with.

use std::process::ExitCode;

use clap::Args;

/// Internal: runs the worker loop on stdin/stdout. Started by the pool, never by hand.
#[derive(Debug, Args)]
pub struct WorkerCommand {
    /// Pid of the supervising host; the worker dies with it.
    #[arg(long)]
    parent_pid: u32,
    /// Send a running job's output to the host as it is written, not only with its result.
    #[arg(long)]
    live_output: bool,
    /// Test hook: confine this process as a worker, open a socket (refused: says so on stderr),
    /// then start a process (the confinement must kill it with SIGSYS). A guest cannot make
    /// either call, so tests use this.
    #[arg(long, hide = true)]
    try_forbidden_syscall: bool,
}

impl WorkerCommand {
    /// Runs the worker until the supervisor closes its channel.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        if self.try_forbidden_syscall {
            crate::confine::confine()?;
            // A socket is refused with an error code, and the worker lives on.
            match std::net::TcpListener::bind("127.0.0.1:0") {
                Ok(_) => anyhow::bail!("a socket was allowed"),
                Err(error) => eprintln!("socket: {error}"),
            }
            // Starting a process is forbidden: this does not return.
            let _ = std::process::Command::new("/bin/true").status();
            anyhow::bail!("the forbidden system call was allowed");
        }
        crate::worker::main(self.parent_pid, self.live_output)?;
        Ok(ExitCode::SUCCESS)
    }
}

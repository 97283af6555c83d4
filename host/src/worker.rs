//! The loop inside a worker process: say hello, then read a job, run it in the sandbox,
//! answer with its result, until the supervisor closes the channel or says to stop.
//!
//! The channel is the process's stdin and stdout, which the supervisor set up as pipes.
//! Both are moved to private descriptors at start and the standard ones pointed at
//! `/dev/null` (stdin) and stderr (stdout), so nothing a library prints can corrupt a frame.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::os::fd::{AsFd, OwnedFd};

use rustix::process::{Pid, Signal};

use crate::ipc::{self, FromWorker, IpcError, PROTOCOL_VERSION, ToWorker};
use crate::sandbox::Sandbox;

/// Why a worker stopped other than by being told to.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Setting up the process failed.
    #[error("worker setup: {0}")]
    Setup(#[from] std::io::Error),
    /// The channel to the supervisor failed.
    #[error("worker channel: {0}")]
    Channel(#[from] IpcError),
}

/// Runs the worker loop. `parent_pid` is the supervisor's pid: the worker arranges to be
/// killed when that process dies, and exits at once if it is already gone.
pub fn main(parent_pid: u32) -> Result<(), WorkerError> {
    // Dies with the host, even when the host is SIGKILLed and cannot clean up.
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(std::io::Error::from)?;
    if rustix::process::getppid() != Pid::from_raw(parent_pid as i32) {
        return Ok(());
    }
    let (input, output) = take_channel()?;
    let mut input = BufReader::new(File::from(input));
    let mut output = BufWriter::new(File::from(output));
    let pid = std::process::id();
    ipc::write_frame(&mut output, &FromWorker::Hello { version: PROTOCOL_VERSION, pid })?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut sandbox = Sandbox::new(pid);
    while let Some(message) = ipc::read_frame::<ToWorker>(&mut input)? {
        match message {
            ToWorker::Run(job) => {
                let result = runtime.block_on(sandbox.run(*job));
                ipc::write_frame(&mut output, &FromWorker::Done(Box::new(result)))?;
            }
            ToWorker::Shutdown => break,
        }
    }
    Ok(())
}

/// Moves the channel off the standard descriptors.
fn take_channel() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let input = rustix::io::dup(std::io::stdin().as_fd())?;
    let output = rustix::io::dup(std::io::stdout().as_fd())?;
    let null = File::open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(std::io::stderr().as_fd())?;
    Ok((input, output))
}

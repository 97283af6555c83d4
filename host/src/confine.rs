//! The worker's own operating-system sandbox, around wasmtime's: what a worker process gives
//! up before it runs any job, so that a wasmtime escape is not a host compromise.
//!
//! In order, at the start of `wasmpool worker`, before any other thread exists (every later
//! thread inherits all of it):
//! - rlimits: no core dumps (a crash must not write guest memory to disk), few descriptors;
//! - no capabilities (a worker of a root host has none: `CapEff: 0`);
//! - `PR_SET_NO_NEW_PRIVS` (nothing it could run would gain privileges);
//! - seccomp filters that allow the system calls a worker makes ([`ALLOWED`]), answer a few
//!   it must not make but that a WASI implementation or a library may reach on a job's
//!   behalf with an error code ([`REFUSED`]: the job sees the error, the worker lives), and
//!   kill the process on any other (no `execve`, no new processes, no `ptrace`, no mounts…).
//!
//! [`ALLOWED`] is what `strace -f` shows a worker making while it runs the `coverage` guest
//! (every WASI preview 1 function and preview 2 filesystem, clock, random, stdio and socket
//! operation, with each flag that reaches a different system call), as a module and as a
//! component, and every other kind of job: see the `wasi_coverage` tests.
//!
//! The supervisor also starts each worker in a session of its own (`pool/process.rs`), so a
//! Ctrl-C meant for the host never reaches the workers. Address space is not limited: the
//! pooling allocator reserves far more virtual memory than it uses, and the memory a guest
//! may use is limited per job inside the sandbox.

use std::collections::BTreeMap;

use rustix::process::{Resource, Rlimit, setrlimit};
use rustix::thread::{CapabilitySet, CapabilitySets, set_capabilities, set_no_new_privs};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Why a worker could not confine itself.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// A limit, capability or flag could not be set.
    #[error("{what}: {source}")]
    Os {
        /// What was being set.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The seccomp filter could not be installed.
    #[error("seccomp: {0}")]
    Seccomp(#[from] seccompiler::Error),
    /// The seccomp filter could not be built.
    #[error("seccomp filter: {0}")]
    Filter(#[from] seccompiler::BackendError),
    /// This architecture has no filter.
    #[error("no seccomp filter for this architecture")]
    Architecture,
}

/// Descriptors a worker may hold: its channel, the runtime's, compiled modules while they
/// load, and a job's granted directories.
const OPEN_FILES: u64 = 256;

/// Applies everything above to this process. Call it while the process has one thread.
pub fn confine() -> Result<(), ConfineError> {
    let os = |what| move |e: rustix::io::Errno| ConfineError::Os { what, source: e.into() };
    let none = Rlimit { current: Some(0), maximum: Some(0) };
    setrlimit(Resource::Core, none).map_err(os("no core dumps"))?;
    let files = Rlimit { current: Some(OPEN_FILES), maximum: Some(OPEN_FILES) };
    setrlimit(Resource::Nofile, files).map_err(os("open files"))?;
    let empty = CapabilitySets {
        effective: CapabilitySet::empty(),
        permitted: CapabilitySet::empty(),
        inheritable: CapabilitySet::empty(),
    };
    set_capabilities(None, empty).map_err(os("dropping capabilities"))?;
    set_no_new_privs(true).map_err(os("no new privileges"))?;
    for filter in filters()? {
        seccompiler::apply_filter(&filter)?;
    }
    Ok(())
}

/// The system calls a worker makes once running (measured with `strace -f` over every kind
/// of job: modules and components, stdin, timeouts, memory and fuel limits, traps, granted
/// directories with every WASI call the `coverage` guest makes, queues), plus their close
/// relatives that libraries may pick instead.
#[cfg(target_arch = "x86_64")]
const ALLOWED: &[libc::c_long] = &[
    // Memory: linear memories, the pooling allocator, code.
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_mremap,
    libc::SYS_brk,
    libc::SYS_memfd_create,
    libc::SYS_ftruncate,
    libc::SYS_ioctl,
    // Threads (the epoch ticker, the timeout watchdog, the channel reader, the runtime),
    // signals (traps are signals), time.
    libc::SYS_clone,
    libc::SYS_futex,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_sigaltstack,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_tgkill,
    libc::SYS_prctl,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_getppid,
    libc::SYS_getrandom,
    libc::SYS_prlimit64,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_restart_syscall,
    // The channel and the runtime's reactor.
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_close,
    libc::SYS_dup,
    libc::SYS_fcntl,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_eventfd2,
    libc::SYS_pipe2,
    libc::SYS_socketpair,
    libc::SYS_poll,
    libc::SYS_ppoll,
    // Files: compiled modules, and the directories a job was granted.
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_newfstatat,
    libc::SYS_fstat,
    libc::SYS_statx,
    libc::SYS_lseek,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    // Appending writes: `RWF_APPEND`, for a file opened or set for appending.
    libc::SYS_pwritev2,
    libc::SYS_getdents64,
    libc::SYS_readlinkat,
    libc::SYS_mkdirat,
    libc::SYS_unlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_linkat,
    libc::SYS_symlinkat,
    libc::SYS_utimensat,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_fallocate,
    libc::SYS_fadvise64,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_getcwd,
];

/// System calls answered with an error code instead of being made, and why each may be
/// reached: the caller sees the error and goes on, where a kill would end every job the worker
/// holds for a call that does no harm when refused.
#[cfg(target_arch = "x86_64")]
const REFUSED: &[(libc::c_long, i32)] = &[
    // Its flags sit behind a pointer a filter cannot read: the C library falls back to
    // `clone`, whose flags are checked (threads only).
    (libc::SYS_clone3, libc::ENOSYS),
    // Copies inside the kernel, which the standard library tries first (`io::copy`) and
    // falls back from to reads and writes on `ENOSYS`.
    (libc::SYS_copy_file_range, libc::ENOSYS),
    (libc::SYS_sendfile, libc::ENOSYS),
    (libc::SYS_splice, libc::ENOSYS),
    // No network: wasmtime refuses a job's sockets before it makes one, and should a
    // version make one first, the job is told it may not (`access-denied`), not killed.
    (libc::SYS_socket, libc::EPERM),
];

/// The filters; the kernel runs each and takes the strictest answer (kill, then an error
/// code, then allow). One per error code in [`REFUSED`], each answering its calls with it and
/// allowing the rest; the last allows [`ALLOWED`] and [`REFUSED`] (to the others' answer) —
/// `clone` only with `CLONE_THREAD` — and kills the process on anything else.
#[cfg(target_arch = "x86_64")]
fn filters() -> Result<Vec<BpfProgram>, ConfineError> {
    let arch = TargetArch::x86_64;
    let mut codes: Vec<i32> = REFUSED.iter().map(|&(_, code)| code).collect();
    codes.sort_unstable();
    codes.dedup();
    let mut programs = Vec::new();
    for code in codes {
        let calls =
            REFUSED.iter().filter(|&&(_, c)| c == code).map(|&(call, _)| (call, Vec::new()));
        let refuse = SeccompFilter::new(
            calls.collect(),
            SeccompAction::Allow,
            SeccompAction::Errno(code as u32),
            arch,
        )?;
        programs.push(refuse.try_into()?);
    }
    let thread_only = SeccompCondition::new(
        0,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
        libc::CLONE_THREAD as u64,
    )?;
    let calls = ALLOWED.iter().copied().chain(REFUSED.iter().map(|&(call, _)| call));
    let rules = calls
        .map(|call| {
            let rules = match call {
                libc::SYS_clone => vec![SeccompRule::new(vec![thread_only.clone()])?],
                _ => Vec::new(),
            };
            Ok((call, rules))
        })
        .collect::<Result<BTreeMap<_, _>, seccompiler::BackendError>>()?;
    let allowed =
        SeccompFilter::new(rules, SeccompAction::KillProcess, SeccompAction::Allow, arch)?;
    programs.push(allowed.try_into()?);
    Ok(programs)
}

/// The system call list is x86-64's (other architectures name some calls differently).
#[cfg(not(target_arch = "x86_64"))]
fn filters() -> Result<Vec<BpfProgram>, ConfineError> {
    Err(ConfineError::Architecture)
}

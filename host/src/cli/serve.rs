//! `wasmpool serve`: the service, with its HTTP API on a port.

use crate::mounts::Mounts;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{UsageError, exit};
use crate::api::ServiceLimits;
use crate::cluster::Liveness;
use crate::compile_process::CompileLimits;
use crate::datadir::DataDirError;
use crate::http::HttpLimits;
use crate::queues::QueueLimits;
use crate::service::{ServiceConfig, serve};
use crate::store::{Durability, Location};
use crate::units::{parse_duration, parse_size};
use wasmpool_protocol::validate::{DEFAULT_LANE, check_name};

/// Run the service: a pool of worker processes fed from a durable queue, with an HTTP API.
/// SIGINT or SIGTERM drains it: new submissions get 503, running jobs get the drain timeout
/// to finish (the rest are stopped and stay queued for the next start), then it exits 0.
/// One serve per data directory: while another holds it, serve exits 75 at once.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool serve
  wasmpool serve --listen 0.0.0.0:8080 --token \"$(openssl rand -hex 16)\" --workers 8
  wasmpool serve --store postgres:///wasmpool --node a --token \"$T\"
  wasmpool serve --lane default=4 --lane slow=1
  curl -H 'Content-Type: application/wasm' --data-binary @hello.wasm http://127.0.0.1:8080/v1/run

Exit status: 0 after a drain; 2 on a usage mistake (an address that is not HOST:PORT or does
not resolve, a non-loopback address without a token, options that contradict each other); 69
if it cannot listen on the address (in use, not this machine's, or not allowed); 75 if
another serve holds the data directory (try again once it stops, or give each serve its own
--data); 125 on any other failure.")]
pub struct ServeCommand {
    /// Address to listen on, HOST:PORT (a name such as localhost is resolved, IPv4 first).
    /// A non-loopback address requires a token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080", value_parser = parse_listen)]
    listen: SocketAddr,
    /// On a loopback address, requests must name the service as `localhost`, `127.0.0.1`
    /// or `[::1]` with the listen port in `Host` (421 otherwise: DNS rebinding). Also answer
    /// to NAME (any port) or NAME:PORT, say behind a proxy; repeat for several. On any other
    /// address every Host is answered (a token is mandatory there).
    #[arg(
        long = "allowed-host",
        env = "WASMPOOL_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    allowed_hosts: Vec<String>,
    /// A request's head must arrive within this; also how long an idle connection stays open.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "30s")]
    header_timeout: Duration,
    /// A request's body must arrive within this (408 otherwise).
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "2m")]
    body_timeout: Duration,
    /// Connections served at once; one more is answered 503 and closed.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_connections: usize,
    /// Number of worker processes (default: the available cores), all in the one lane
    /// `default`. Not with --lane.
    #[arg(long, short = 'w', value_name = "N")]
    workers: Option<usize>,
    /// A lane of N worker processes of its own, which run only the jobs that name the lane
    /// (repeat for several; a job names none: `default`). Without it, one lane `default` of
    /// --workers workers.
    #[arg(long = "lane", value_name = "NAME=N", value_parser = parse_lane)]
    lanes: Vec<(String, usize)>,
    /// A directory jobs may ask to be granted, by NAME, at a path of their choosing (repeat
    /// for several; `:ro`: read-only for every job). Jobs name mounts, never host paths; give
    /// every host of a cluster the same ones.
    #[arg(long = "mount", value_name = "NAME=DIR[:ro]")]
    mounts: Vec<String>,
    /// Directory of this host's files: modules, compiled artifacts, worker directories, and
    /// the SQLite database when --store names no other. Made private (0700, files 0600) and
    /// held by one serve at a time.
    #[arg(long, value_name = "DIR", default_value = "./wasmpool-data")]
    data: PathBuf,
    /// Where the jobs are kept: `postgres://USER@HOST/DB` (shared by every host that names
    /// it: a cluster) or `sqlite:PATH`. Default: the SQLite file `wasmpool.db` in --data.
    #[arg(long, env = "WASMPOOL_STORE", value_name = "URL", value_parser = Location::parse)]
    store: Option<Location>,
    /// This host's name in the cluster (default: the host name and the port). Two live
    /// hosts may not share one.
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// The address other hosts and people should use for this one, as `nodes` and the
    /// dashboard show it (default: the address it listens on; set it when that is 0.0.0.0 or
    /// behind a proxy).
    #[arg(long, value_name = "ADDR")]
    advertise: Option<String>,
    /// A host silent this long is declared lost and its jobs run elsewhere (PostgreSQL).
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "10s")]
    lease: Duration,
    /// How often this host tells the cluster it is alive (PostgreSQL).
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "1s")]
    heartbeat: Duration,
    /// Require `Authorization: Bearer TOKEN` on every /v1 call.
    #[arg(long, env = "WASMPOOL_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
    /// Keep ended jobs this long.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "7d")]
    keep: Duration,
    /// On shutdown, let running jobs finish for this long.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "30s")]
    drain_timeout: Duration,
    /// Timeout of a job that gives none.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "60s")]
    default_timeout: Duration,
    /// Largest timeout a job may ask for.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "1h")]
    max_timeout: Duration,
    /// Memory of a job that gives none.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "256MiB")]
    default_memory: u64,
    /// Largest memory a job may ask for.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB")]
    max_memory: u64,
    /// Largest module upload.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64MiB")]
    max_module_size: u64,
    /// Most jobs in one batch.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_batch: usize,
    /// Most jobs in one workflow (jobs that run after one another, `after`); a submission
    /// past it is refused with 400.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    max_workflow_jobs: u64,
    /// Most edges (parent–child pairs) in one workflow; a submission past it is refused
    /// with 400.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max_workflow_edges: u64,
    /// Longest a client may be kept waiting by a job wait or a queue put or get; longer
    /// `timeout_ms` are cut to this.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "60s")]
    max_wait: Duration,
    /// Memory one compile of an upload may use (uploads compile in processes of their own;
    /// a module that needs more is refused with 413).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB")]
    compile_memory: u64,
    /// Time one compile of an upload may take (then it is refused with 413).
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "5m")]
    compile_timeout: Duration,
    /// Cap on each of a job's stdout and stderr.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1MiB")]
    output_limit: u64,
    /// Most items a named queue holds.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    queue_capacity: u64,
    /// Largest item of a named queue.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1MiB")]
    queue_item_limit: u64,
    /// How long a put waits for room in a full queue before it fails.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "10s")]
    queue_put_timeout: Duration,
    /// `on`: an accepted job (any answered change) is on disk, safe against a power loss.
    /// `off`: it is in the database's log, handed to the operating system but not synced:
    /// safe against a crash or kill of the service, not against a power loss or an OS crash
    /// (nor, on PostgreSQL, a crash of the database server): SQLite `synchronous=NORMAL`,
    /// PostgreSQL `synchronous_commit=off`.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = parse_sync)]
    sync: Durability,
    /// Threads of the service's own async runtime (HTTP, dispatcher, worker supervision):
    /// 0 one per core, 1 everything on one thread (fewer cross-thread wake-ups), N that many.
    /// Workers are processes of their own whatever this says.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HOST_THREADS)]
    host_threads: usize,
    /// Most schedules the service keeps: every host evaluates every schedule each round, so
    /// beyond what the hosts keep up with, ticks are skipped (and counted).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_schedules: u64,
    /// Most connections this host opens to PostgreSQL (idle ones close after a minute). Every
    /// host holds up to this many: keep hosts × N under the server's `max_connections`.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(4..=1000))]
    pg_connections: u32,
}

/// `--host-threads` unless told: one per core, as before the option. One thread used less
/// host CPU per job in an A/B on a loaded machine (bench/RESULTS.md), not conclusively; a
/// quiet `bench/run --serve-args '--host-threads 1'` next to a plain run decides.
const DEFAULT_HOST_THREADS: usize = 0;

fn parse_sync(text: &str) -> Result<Durability, String> {
    match text {
        "on" => Ok(Durability::Disk),
        "off" => Ok(Durability::Log),
        _ => Err(format!("`{text}` is not on or off")),
    }
}

impl ServeCommand {
    /// Serves until SIGINT or SIGTERM; a second signal stops at once.
    /// A data directory held by another serve is reported here: `wasmpool: MESSAGE` on
    /// stderr and [`exit::DATA_DIR_IN_USE`]; any other error goes up to the caller.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let config = self.config()?;
        raise_open_file_limit();
        let runtime = super::local::runtime_with(self.host_threads)?;
        let result = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(self.listen)
                .await
                .map_err(|source| ListenError { address: self.listen, source })?;
            let shutdown = CancellationToken::new();
            tokio::spawn(watch_signals(shutdown.clone()));
            serve(config, listener, shutdown).await
        });
        match result {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(error) => match error.downcast_ref::<DataDirError>() {
                Some(in_use @ DataDirError::InUse { .. }) => {
                    super::say(format_args!("wasmpool: {in_use}"));
                    Ok(ExitCode::from(exit::DATA_DIR_IN_USE))
                }
                _ => Err(error),
            },
        }
    }

    fn config(&self) -> anyhow::Result<ServiceConfig> {
        let token = self.token.clone().filter(|token| !token.is_empty());
        if token.is_none() && !self.listen.ip().is_loopback() {
            return Err(usage(format!(
                "refusing to listen on {} without a token: pass --token or set WASMPOOL_TOKEN",
                self.listen
            )));
        }
        if self.default_timeout > self.max_timeout || self.default_memory > self.max_memory {
            return Err(usage("the default timeout and memory must not exceed their maxima"));
        }
        let lanes = self.lanes()?;
        if self.host_threads > 1024 {
            return Err(usage("--host-threads must be from 0 (one per core) to 1024"));
        }
        if self.heartbeat.is_zero() || self.lease < self.heartbeat * 2 {
            return Err(usage(
                "--lease must be at least twice --heartbeat (a host must be able to miss one)",
            ));
        }
        if self.node.as_ref().is_some_and(|name| name.is_empty() || name.len() > 100) {
            return Err(usage("--node must be 1 to 100 characters"));
        }
        if self.header_timeout.is_zero() || self.body_timeout.is_zero() {
            return Err(usage("--header-timeout and --body-timeout must be more than zero"));
        }
        if self.max_connections == 0 {
            return Err(usage("--max-connections must be at least 1"));
        }
        if let Some(bad) = self.allowed_hosts.iter().find(|name| {
            name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:[]".contains(c))
        }) {
            return Err(usage(format!(
                "--allowed-host `{bad}` is not a host name (NAME or NAME:PORT)"
            )));
        }
        let limits = self.limits();
        let mounts = Mounts::from_specs(&self.mounts).map_err(|e| usage(e.to_string()))?;
        Ok(ServiceConfig {
            lanes,
            mounts,
            data_dir: self.data.clone(),
            store: self.store.clone(),
            node: self.node.clone(),
            advertise: self.advertise.clone(),
            liveness: Liveness { heartbeat: self.heartbeat, lease: self.lease },
            compile: CompileLimits {
                memory_bytes: self.compile_memory.max(64 << 20),
                timeout: self.compile_timeout.max(Duration::from_secs(1)),
                ..CompileLimits::default()
            },
            token,
            keep: self.keep,
            drain_timeout: self.drain_timeout,
            limits,
            queue_limits: QueueLimits {
                capacity: self.queue_capacity.max(1),
                max_item_bytes: usize::try_from(self.queue_item_limit).unwrap_or(usize::MAX),
                put_timeout: self.queue_put_timeout,
            },
            http: HttpLimits {
                header_timeout: self.header_timeout,
                body_timeout: self.body_timeout,
                max_connections: self.max_connections,
            },
            allowed_hosts: self.allowed_hosts.clone(),
            durability: self.sync,
            pg_connections: self.pg_connections,
        })
    }
}

impl ServeCommand {
    /// The job defaults and maxima the options set.
    fn limits(&self) -> ServiceLimits {
        ServiceLimits {
            default_timeout: self.default_timeout,
            max_timeout: self.max_timeout,
            default_memory_mb: (self.default_memory >> 20).max(1),
            max_memory_mb: (self.max_memory >> 20).clamp(1, crate::sandbox::MAX_MEMORY_BYTES >> 20),
            max_module_bytes: usize::try_from(self.max_module_size).unwrap_or(usize::MAX),
            max_batch: self.max_batch.max(1),
            max_wait: self.max_wait,
            output_bytes: self.output_limit,
            max_schedules: self.max_schedules,
            workflow: wasmpool_protocol::workflow::WorkflowLimits {
                max_jobs: self.max_workflow_jobs,
                max_edges: self.max_workflow_edges,
            },
            ..ServiceLimits::default()
        }
    }

    /// The lanes: those of --lane, or `default` with --workers workers.
    fn lanes(&self) -> anyhow::Result<Vec<(String, usize)>> {
        if self.lanes.is_empty() {
            let workers = self
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            if !(1..=MAX_WORKERS).contains(&workers) {
                return Err(usage(format!("--workers must be from 1 to {MAX_WORKERS}")));
            }
            return Ok(vec![(DEFAULT_LANE.to_string(), workers)]);
        }
        if self.workers.is_some() {
            return Err(usage(format!(
                "--workers and --lane do not go together: give the default lane's workers as \
                 --lane {DEFAULT_LANE}=N"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some((twice, _)) = self.lanes.iter().find(|(name, _)| !seen.insert(name)) {
            return Err(usage(format!("--lane {twice} is given twice")));
        }
        let total: usize = self.lanes.iter().map(|(_, workers)| workers).sum();
        if total > MAX_WORKERS {
            return Err(usage(format!(
                "the lanes have {total} workers in all; at most {MAX_WORKERS} are allowed"
            )));
        }
        Ok(self.lanes.clone())
    }
}

/// Most worker processes of one host.
const MAX_WORKERS: usize = 1024;

/// `--lane NAME=N`: a lane name and its workers, 1 to [`MAX_WORKERS`].
fn parse_lane(text: &str) -> Result<(String, usize), String> {
    let Some((name, workers)) = text.split_once('=') else {
        return Err(format!("`{text}` is not NAME=N (say --lane slow=2)"));
    };
    check_name("lane", name).map_err(|refused| refused.0)?;
    match workers.parse::<usize>() {
        Ok(n @ 1..=MAX_WORKERS) => Ok((name.to_string(), n)),
        _ => Err(format!(
            "lane `{name}`: `{workers}` workers; give a number from 1 to {MAX_WORKERS}"
        )),
    }
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// `--listen`'s address: an IP address and port, or a host name and port resolved here
/// (preferring IPv4, as the default listens there and clients try it first).
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("`{text}` is not HOST:PORT (say 127.0.0.1:8080 or localhost:8080)"));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("`{text}` is not HOST:PORT (say 127.0.0.1:8080 or localhost:8080)"));
    }
    let addresses: Vec<SocketAddr> =
        text.to_socket_addrs().map_err(|e| format!("cannot resolve `{host}`: {e}"))?.collect();
    addresses
        .iter()
        .find(|address| address.is_ipv4())
        .or(addresses.first())
        .copied()
        .ok_or_else(|| format!("`{host}` resolves to no address"))
}

/// The service could not take its listen address. Exit code 69 (`EX_UNAVAILABLE`).
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}: {source}{}", listen_hint(source))]
pub struct ListenError {
    /// The address.
    pub address: SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

fn listen_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => " (another process listens there; pick another port)",
        std::io::ErrorKind::AddrNotAvailable => " (not an address of this machine)",
        std::io::ErrorKind::PermissionDenied => " (ports below 1024 need privileges)",
        _ => "",
    }
}

/// The first SIGINT or SIGTERM starts the drain; a second one exits at once.
async fn watch_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        tracing::error!("cannot listen for signals");
        return;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    // Cancel before saying so, and say it without `eprintln!`: after Ctrl-C on
    // `serve 2>&1 | tee log`, tee is gone and a panic here would leave the service up,
    // deaf to signals.
    shutdown.cancel();
    super::say(format_args!("wasmpool: draining (signal again to stop at once)"));
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    super::say(format_args!("wasmpool: stopping at once"));
    std::process::exit(130);
}

/// Raises the soft limit on open files to the hard one: every connection, worker pipe and
/// database file takes a descriptor, and the usual soft limit (1024) is low for a server.
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!("cannot raise the open file limit: {e}");
        }
    }
}

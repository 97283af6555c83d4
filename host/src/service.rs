//! `wasmpool serve` put together: takes the data directory, opens the store, recovers what
//! a previous run left running, starts the pool and the dispatcher, serves the API on an
//! already bound listener, purges old results, and drains on shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, HostRules, Parts, ServiceLimits, Services};
use crate::cluster::{self, Liveness};
use crate::compile_process::{CompileLimits, CompileProcesses};
use crate::datadir::{self, DataDir};
use crate::dispatcher::{Dispatcher, Given};
use crate::http::{self, HttpLimits};
use crate::lanes::{Lane, Lanes};
use crate::library::Library;
use crate::live::LiveOutput;
use crate::metrics::Metrics;
use crate::mounts::Mounts;
use crate::pool::{Pool, PoolConfig};
use crate::queues::{QueueLimits, Queues, ServiceTaskHost};
use crate::scheduler::Scheduler;
use crate::shutdown::Shutdown;
use crate::spawns::Spawner;
use crate::store::{Beat, Durability, Location, NodeInfo, Store};

/// How the service is set up.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The lanes and their worker processes, in order (names unique, at least one).
    pub lanes: Vec<(String, usize)>,
    /// Module files, compiled artifacts, worker directories (and the SQLite database unless
    /// `store` names another); held exclusively while serving (see [`DataDir`]).
    pub data_dir: PathBuf,
    /// Where the jobs are kept: `None` for the SQLite file in the data directory.
    pub store: Option<Location>,
    /// This host's name in the cluster: `None` for the host name and port.
    pub node: Option<String>,
    /// The address to show for this host (`--advertise`); the bound address if `None`.
    pub advertise: Option<String>,
    /// Heartbeat and lease of the cluster (PostgreSQL only).
    pub liveness: Liveness,
    /// Required bearer token, if any.
    pub token: Option<String>,
    /// The directories jobs may ask to be granted (`--mount`).
    pub mounts: Mounts,
    /// How long ended jobs are kept.
    pub keep: Duration,
    /// How long running jobs may finish when shutting down.
    pub drain_timeout: Duration,
    /// Job defaults and maxima.
    pub limits: ServiceLimits,
    /// What one compile of an upload may use.
    pub compile: CompileLimits,
    /// Named queues' capacity, item size and put timeout.
    pub queue_limits: QueueLimits,
    /// Connection timeouts and the connection cap.
    pub http: HttpLimits,
    /// `Host` names answered besides the loopback ones (`--allowed-host`).
    pub allowed_hosts: Vec<String>,
    /// What an answer promises: on disk, or in the database's log (`--sync`).
    pub durability: Durability,
    /// Most connections this host opens to PostgreSQL.
    pub pg_connections: u32,
}

/// How often old results are purged.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Serves until `shutdown` is cancelled, then drains: submissions get 503, running jobs
/// finish within the drain timeout (the rest are stopped and left queued), queued jobs stay.
pub async fn serve(
    config: ServiceConfig,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Before anything is created: the database, modules, artifacts and worker directories
    // hold every job's inputs and outputs, for this user only.
    datadir::private_umask();
    // Held until we return: a second serve on this directory is refused while we run. Its
    // error goes up untouched, for the command line to give it its own exit code.
    let data_dir = DataDir::open(&config.data_dir)?;
    // Workers run in directories of their own: every path handed to them must be absolute.
    let mut config = config;
    config.data_dir = std::path::absolute(&config.data_dir)?;
    let address: SocketAddr = listener.local_addr()?;
    let location = match config.store.clone() {
        Some(location) => location,
        None => Location::Sqlite(std::path::absolute(data_dir.database()?)?),
    };
    let (store, node) = open_store(&config, &location, address).await?;
    let tree = Shutdown::default();
    let hosts = HostRules { listen: address, allowed: config.allowed_hosts.clone() };
    let services = assemble(&config, &store, node, hosts, &tree)?;
    let running = start(&config, &location, listener, services, &tree).await?;
    shutdown.cancelled().await;
    running.drain(&tree, config.drain_timeout).await;
    let _ = std::fs::remove_dir(config.data_dir.join("workers"));
    tracing::info!("stopped");
    drop(data_dir);
    Ok(())
}

/// Opens the store as this host, and recovers what a previous run left running.
async fn open_store(
    config: &ServiceConfig,
    location: &Location,
    address: SocketAddr,
) -> anyhow::Result<(Store, NodeInfo)> {
    let node = NodeInfo {
        name: config.node.clone().unwrap_or_else(|| default_node_name(address)),
        address: config.advertise.clone().unwrap_or_else(|| address.to_string()),
        version: env!("CARGO_PKG_VERSION").to_string(),
        workers: config.lanes.iter().map(|(_, workers)| workers).sum(),
        lanes: config.lanes.clone(),
        lease: config.liveness.lease,
        connections: config.pg_connections,
    };
    let store = Store::open_with(location, &node, config.durability)
        .await
        .with_context(|| format!("cannot open the job store {}", location.redacted()))?;
    let recovered = store.recover().await?;
    if recovered.released + recovered.requeued + recovered.failed > 0 {
        tracing::warn!(
            not_started = recovered.released,
            requeued = recovered.requeued,
            failed = recovered.failed,
            "recovered jobs left running by the previous run"
        );
    }
    Ok((store, node))
}

/// The service's parts: the module library, a pool and a dispatcher per lane (the pools
/// under the shutdown tree's root), queues, live output and metrics.
fn assemble(
    config: &ServiceConfig,
    store: &Store,
    node: NodeInfo,
    hosts: HostRules,
    tree: &Shutdown,
) -> anyhow::Result<Arc<Services>> {
    let cache = config.data_dir.join("cache");
    let compiles = CompileProcesses::new(std::env::current_exe()?, cache.clone(), config.compile);
    let library =
        Arc::new(Library::new(config.data_dir.join("modules"), &cache, store.clone(), compiles)?);
    let queues = Queues::new(store.clone(), config.queue_limits.clone());
    let live = Arc::new(LiveOutput::default());
    let metrics = Arc::new(Metrics::new());
    let mounts = Arc::new(config.mounts.clone());
    let lane_names = config.lanes.iter().map(|(name, _)| name.clone()).collect();
    let spawner =
        Arc::new(Spawner::new(store.clone(), config.limits.clone(), mounts.clone(), lane_names));
    let task_host = Arc::new(ServiceTaskHost::new(queues.clone(), store.clone(), spawner.clone()));
    let mut lanes = Vec::with_capacity(config.lanes.len());
    for (name, workers) in &config.lanes {
        // Each lane's workers in a directory of its own: slots are numbered per pool.
        let mut pool_config =
            PoolConfig::new(*workers, config.data_dir.join("workers").join(name))?;
        pool_config.host = task_host.clone();
        pool_config.output = Some(live.clone());
        pool_config.shutdown = tree.root().child_token();
        let pool = Arc::new(Pool::start(pool_config)?);
        let dispatcher = Dispatcher::new(
            name.clone(),
            store.clone(),
            pool.clone(),
            library.clone(),
            metrics.clone(),
            Given {
                mounts: mounts.clone(),
                output_bytes: config.limits.output_bytes,
                spawner: spawner.clone(),
            },
        );
        lanes.push(Lane { name: name.clone(), pool, dispatcher });
    }
    let parts = Parts {
        store: store.clone(),
        library,
        lanes: Arc::new(Lanes::new(lanes)),
        metrics,
        queues,
        live,
        limits: config.limits.clone(),
        mounts,
        token: config.token.clone(),
        hosts,
        node,
        started_at: SystemTime::now(),
        standing: crate::cluster::Standing::default(),
    };
    Ok(Arc::new(Services::new(parts, tree.root().clone())))
}
/// The service running: its tasks, in the order the drain stops them.
struct Running {
    services: Arc<Services>,
    dispatchers: Vec<JoinHandle<()>>,
    cluster: Option<JoinHandle<()>>,
    /// The scheduler, the purge, the HTTP server, the event hub and the live output.
    rest: Vec<JoinHandle<()>>,
}

/// Starts the dispatchers, the purge and the scheduler (under the tree's `work`), says
/// where it listens, and starts the cluster membership (under `members`) and the API, its
/// event hub and the live output (under the root).
async fn start(
    config: &ServiceConfig,
    location: &Location,
    listener: tokio::net::TcpListener,
    services: Arc<Services>,
    tree: &Shutdown,
) -> anyhow::Result<Running> {
    let store = &services.store;
    let dispatchers = services.lanes.run(tree.work());
    purge_once(store, config.keep).await;
    let mut rest = vec![tokio::spawn(purge(store.clone(), config.keep, tree.work().clone()))];
    // Started before the "listening" line: ticks before it came while this host was not
    // running. It stops making jobs as soon as the drain begins.
    let lanes = config.lanes.iter().map(|(name, _)| name.clone()).collect();
    let scheduler =
        Scheduler::new(store.clone(), config.limits.clone(), lanes, services.metrics.clone())
            .await?;
    rest.push(tokio::spawn(scheduler.run(tree.work().clone())));
    // Not `println!`: it panics when stdout is a pipe nobody reads any more.
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "wasmpool listening on http://{}", services.hosts.listen);
        let _ = stdout.flush();
    }
    let state = api::AppState::new(services.clone());
    let cluster = store.is_shared().then(|| {
        tracing::info!(
            node = services.node.name,
            store = location.redacted(),
            "joined the cluster"
        );
        let report = heartbeat_report(state.clone(), services.lanes.clone());
        let (lanes, standing) = (services.lanes.clone(), services.standing.clone());
        let members = tree.members().clone();
        tokio::spawn(cluster::run(store.clone(), lanes, report, config.liveness, standing, members))
    });
    let root = tree.root();
    rest.push(tokio::spawn(api::run_hub(state.clone(), root.clone())));
    rest.push(tokio::spawn(services.live.clone().run(store.subscribe(), root.clone())));
    let router = api::router(state);
    rest.push(tokio::spawn(http::serve(listener, router, config.http.clone(), root.clone())));
    Ok(Running { services, dispatchers, cluster, rest })
}

impl Running {
    /// The drain, from the tree's leaves up: claiming stops and the running jobs finish
    /// within `timeout` (the rest are stopped and left queued); then this host leaves the
    /// cluster; then the API stops; then the pools.
    async fn drain(self, tree: &Shutdown, timeout: Duration) {
        tracing::info!("shutting down: draining for up to {timeout:?}");
        let Running { services, dispatchers, cluster, rest } = self;
        services.draining.store(true, Ordering::SeqCst);
        services.lanes.drain(tree.work(), timeout).await;
        for task in dispatchers {
            let _ = task.await;
        }
        tree.members().cancel();
        if let Some(task) = cluster {
            let _ = task.await;
        }
        if let Err(e) = services.store.leave().await {
            tracing::warn!(
                "could not mark this host as left (the others will after its lease): {e}"
            );
        }
        tree.root().cancel();
        for task in rest {
            let _ = task.await;
        }
        let lanes = services.lanes.clone();
        drop(services);
        if let Ok(lanes) = Arc::try_unwrap(lanes) {
            lanes.shutdown().await;
        }
    }
}

/// The host's name and the port it listens on: unique per host in most clusters.
fn default_node_name(address: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", address.port())
}

/// What each heartbeat reports: this host's workers as the API shows them, and the attempts
/// its dispatchers hold.
fn heartbeat_report(state: api::AppState, lanes: Arc<Lanes>) -> cluster::Report {
    Arc::new(move || {
        let state = state.clone();
        let lanes = lanes.clone();
        Box::pin(async move {
            let workers = api::local_workers(&state).await.unwrap_or_default();
            Beat {
                busy: workers.iter().filter(|worker| worker.state == "busy").count(),
                pool: serde_json::to_value(&workers).unwrap_or_default(),
                holding: lanes.holding(),
                draining: state.draining.load(Ordering::SeqCst),
            }
        })
    })
}

/// Purges ended jobs older than `keep` now, then every [`PURGE_EVERY`] until shutdown.
async fn purge(store: Store, keep: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(PURGE_EVERY) => {}
        }
        purge_once(&store, keep).await;
    }
}

async fn purge_once(store: &Store, keep: Duration) {
    let cutoff = SystemTime::now().checked_sub(keep).unwrap_or(SystemTime::UNIX_EPOCH);
    match store.purge(cutoff).await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "removed ended jobs past the retention period"),
        Err(e) => tracing::error!("purging old jobs failed: {e}"),
    }
}

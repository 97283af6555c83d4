//! The PostgreSQL behind the W1 rows on a shared store (W1pg, W1pg2): the server
//! `WASMPOOL_BENCH_POSTGRES` names (an admin URL), else a throwaway cluster from the system's
//! server package, started once per bench run and gone with it however the run ends. Each run
//! gets a fresh database. For a throwaway cluster the server's CPU time can be read from
//! `/proc`, which gives PostgreSQL's own cost per job.
//!
//! The cluster is set up like the tests' (`tests/all/postgres.rs`): `initdb` + `pg_ctl` as
//! `postgres` when we are root, a temp directory, a free loopback port, and a watchdog shell
//! that stops it when this process closes its end of a pipe (on exit, even by SIGKILL).

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

/// The environment variable naming a server to use instead of a throwaway cluster.
pub const ENV: &str = "WASMPOOL_BENCH_POSTGRES";

/// How long the cluster may take to start or answer.
const BOUND: Duration = Duration::from_secs(30);

/// A PostgreSQL server the bench may create databases on.
pub struct Postgres {
    /// URL of the database admin statements run in.
    admin: String,
    /// The throwaway cluster behind `admin`, if this run started one.
    cluster: Option<Cluster>,
}

/// A fresh database of one run.
pub struct Database {
    pub name: String,
    /// Its URL, for `wasmpool serve --store`.
    pub url: String,
}

impl Postgres {
    /// The server `WASMPOOL_BENCH_POSTGRES` names, else a throwaway cluster; an error says
    /// why neither can be had.
    pub fn get() -> Result<Postgres> {
        match std::env::var(ENV) {
            Ok(admin) if !admin.is_empty() => {
                let postgres = Postgres { admin, cluster: None };
                postgres
                    .psql(&postgres.admin, "SELECT 1")
                    .with_context(|| format!("{ENV} names a server that does not answer"))?;
                Ok(postgres)
            }
            _ => {
                let cluster = Cluster::start()?;
                Ok(Postgres { admin: cluster.url("postgres"), cluster: Some(cluster) })
            }
        }
    }

    /// What it is, for the log and the report: whose server and its version.
    pub fn describe(&self) -> String {
        let version = self
            .psql(&self.admin, "SHOW server_version")
            .unwrap_or_else(|e| format!("unknown version ({e:#})"));
        match &self.cluster {
            Some(_) => format!("a throwaway cluster (PostgreSQL {version}, default settings)"),
            None => format!("the server {ENV} names (PostgreSQL {version})"),
        }
    }

    /// Creates a fresh, uniquely named database.
    pub fn database(&self) -> Result<Database> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("wasmpool_bench_{}_{n}", std::process::id());
        self.psql(&self.admin, &format!("CREATE DATABASE {name}"))?;
        Ok(Database { url: with_database(&self.admin, &name), name })
    }

    /// Drops a database of [`Postgres::database`] (once its hosts are stopped), so an
    /// external server keeps nothing of the bench.
    pub fn drop_database(&self, database: &Database) -> Result<()> {
        // FORCE: a killed host's backends may not have noticed yet that it is gone.
        self.psql(&self.admin, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", database.name))?;
        Ok(())
    }

    /// One SQL command through `psql` against `url`: its unaligned, tuples-only output.
    pub fn psql(&self, url: &str, sql: &str) -> Result<String> {
        let bin = self.cluster.as_ref().map(|c| c.bin.clone()).or_else(bin_dir);
        let psql = bin.map_or_else(|| PathBuf::from("psql"), |bin| tool(&bin, "psql"));
        // -X: no ~/.psqlrc; -At: bare values; stop at the first error.
        let output = Command::new(&psql)
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", psql.display()))?;
        ensure!(
            output.status.success(),
            "psql {sql:?}: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// CPU time (user + system) the server's processes have used so far: the postmaster,
    /// its live children (backends, WAL writer, checkpointer, ...) and the children it has
    /// already reaped. `None` for an external server, whose processes we do not know.
    pub fn cpu_time(&self) -> Option<Result<Duration>> {
        self.cluster.as_ref().map(Cluster::cpu_time)
    }
}

/// A cluster in a temp directory of its own (`data/`, `postgres.log`, the socket), stopped
/// and removed by its watchdog when dropped or when this process ends.
struct Cluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    watchdog: Child,
}

impl Cluster {
    /// initdb and start a cluster on a free loopback port.
    fn start() -> Result<Cluster> {
        let bin = bin_dir().context(
            "no PostgreSQL server binaries (initdb, pg_ctl) via pg_config, \
             /usr/lib/postgresql/*/bin or PATH, and WASMPOOL_BENCH_POSTGRES is not set",
        )?;
        let dir = tempfile::Builder::new().prefix("wasmpool-bench-pg-").tempdir()?.keep();
        // From here on the watchdog owns the directory: an error below drops the cluster,
        // which closes the watchdog's stdin, and it removes the directory.
        let watchdog = spawn_watchdog(&bin, &dir)?;
        let mut cluster = Cluster { dir, port: 0, bin, watchdog };
        if as_root() {
            let (uid, gid) = postgres_user()?;
            std::os::unix::fs::chown(&cluster.dir, Some(uid), Some(gid))
                .context("chown the cluster directory to postgres")?;
        }
        cluster.initdb()?;
        cluster.start_on_free_port()?;
        Ok(cluster)
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// Creates the cluster with the server's default settings, except where it listens and
    /// enough connections for two hosts' pools.
    fn initdb(&self) -> Result<()> {
        let data = self.data();
        let output = self
            .as_postgres("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
            // Skips only initdb's flush of the files it just wrote; the server runs with
            // fsync on, as a real one would.
            .arg("--no-sync")
            .output()
            .context("cannot run initdb")?;
        ensure!(output.status.success(), "initdb: {}", self.failure(&output));
        let settings = format!(
            "\n# wasmpool bench\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nmax_connections = 100\n",
            self.dir.display().to_string().replace('\'', "''")
        );
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).context("postgresql.conf")?;
        text.push_str(&settings);
        std::fs::write(&conf, text).context("postgresql.conf")?;
        Ok(())
    }

    /// Starts the server on a port nobody was listening on; another process may take a
    /// probed port before the server binds it, so a few tries.
    fn start_on_free_port(&mut self) -> Result<()> {
        let mut failure = String::new();
        for _ in 0..5 {
            self.port = free_port()?;
            let port = format!("-p {}", self.port);
            let output = self
                .as_postgres("pg_ctl")
                .args(["start", "-w", "-t", "30", "-o", &port, "-D"])
                .arg(self.data())
                .arg("-l")
                .arg(self.log())
                .output()
                .context("cannot run pg_ctl")?;
            if output.status.success() {
                return self.wait_ready();
            }
            failure = self.failure(&output);
            if !failure.contains("could not bind") {
                break;
            }
        }
        bail!("PostgreSQL did not start: {failure}")
    }

    /// Polls `pg_isready` over TCP until the server accepts connections, for at most `BOUND`.
    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + BOUND;
        loop {
            let status = Command::new(tool(&self.bin, "pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
                .args(["-p", &self.port.to_string()])
                .status()
                .context("cannot run pg_isready")?;
            if status.success() {
                return Ok(());
            }
            ensure!(Instant::now() < deadline, "PostgreSQL not ready within {BOUND:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A server binary run as the user owning the cluster (`postgres` when we are root: the
    /// server refuses root), in the cluster directory, which that user may enter.
    fn as_postgres(&self, name: &str) -> Command {
        let mut command = if as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(tool(&self.bin, name));
            command
        } else {
            Command::new(tool(&self.bin, name))
        };
        command.current_dir(&self.dir).stdin(Stdio::null());
        command
    }

    fn failure(&self, output: &Output) -> String {
        let log = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "{}\n{}{}\nserver log:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            lines[lines.len().saturating_sub(20)..].join("\n")
        )
    }

    /// The postmaster's pid is the first line of `data/postmaster.pid`; its own times plus
    /// its reaped children's (fields 14–17 of `/proc/PID/stat`), plus every live child's.
    fn cpu_time(&self) -> Result<Duration> {
        let pidfile = self.data().join("postmaster.pid");
        let text = std::fs::read_to_string(&pidfile)
            .with_context(|| format!("cannot read {}", pidfile.display()))?;
        let postmaster: u32 =
            text.lines().next().and_then(|l| l.trim().parse().ok()).context("no pid")?;
        let (_, own) = stat(postmaster).context("the postmaster's /proc/PID/stat")?;
        let mut ticks: u64 = own.iter().sum();
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            // A child may exit between listing and reading: then its time is in the
            // postmaster's reaped-children fields at the next sample.
            if let Some((ppid, times)) = stat(pid)
                && ppid == postmaster
            {
                ticks += times[0] + times[1];
            }
        }
        let per_second = rustix::param::clock_ticks_per_second();
        Ok(Duration::from_secs_f64(ticks as f64 / per_second as f64))
    }
}

impl Drop for Cluster {
    /// Closes the watchdog's stdin and waits while it stops the server and removes the
    /// directory.
    fn drop(&mut self) {
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// `(ppid, [utime, stime, cutime, cstime])` in clock ticks from `/proc/PID/stat`. The
/// command name (field 2) may contain spaces and parentheses, so fields are counted after its
/// last `)`.
fn stat(pid: u32) -> Option<(u32, [u64; 4])> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    // After the name: 3 state, 4 ppid, ..., 14 utime, 15 stime, 16 cutime, 17 cstime.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let ppid = u32::try_from(field(4)?).ok()?;
    Some((ppid, [field(14)?, field(15)?, field(16)?, field(17)?]))
}

/// The watchdog of the cluster in `dir`: a shell blocked reading a pipe only this process
/// holds (std opens it close-on-exec, so the wasmpool servers do not inherit it); at end of
/// file it stops the server and removes `dir`. Its own process group keeps a Ctrl-C meant
/// for the bench from killing it first.
fn spawn_watchdog(bin: &Path, dir: &Path) -> Result<Child> {
    const SCRIPT: &str = r#"
        read -r line
        dir=$1; shift
        "$@" stop -D "$dir/data" -m immediate -w -t 30
        rm -rf "$dir"
    "#;
    let mut command = Command::new("sh");
    command.args(["-c", SCRIPT, "wasmpool-bench-postgres-watchdog"]).arg(dir);
    if as_root() {
        command.args(["runuser", "-u", "postgres", "--"]);
    }
    command
        .arg(tool(bin, "pg_ctl"))
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("cannot start the PostgreSQL watchdog")
}

/// `url` with its database replaced by `database`, keeping user, host and parameters.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority = base.find("://").map_or(0, |scheme| scheme + 3);
    let path = base[authority..].find('/').map_or(base.len(), |slash| authority + slash);
    format!("{}/{database}{query}", &base[..path])
}

fn as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The `postgres` user's uid and gid (the server's user when we are root).
fn postgres_user() -> Result<(u32, u32)> {
    let id = |flag: &str| -> Result<u32> {
        let output = Command::new("id").args([flag, "postgres"]).output()?;
        ensure!(output.status.success(), "running as root needs a `postgres` user");
        Ok(String::from_utf8_lossy(&output.stdout).trim().parse()?)
    };
    Ok((id("-u")?, id("-g")?))
}

/// The directory of the server binaries: `pg_config --bindir`, else the newest
/// /usr/lib/postgresql/*/bin, else where `initdb` on PATH really lives; the first that has
/// both initdb and pg_ctl.
fn bin_dir() -> Option<PathBuf> {
    let pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let mut debian: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.split('.').map(str::parse).collect::<Result<Vec<u32>, _>>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    debian.sort_by(|a, b| b.0.cmp(&a.0));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path)
        .filter_map(|dir| std::fs::canonicalize(dir.join("initdb")).ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_path_buf));
    pg_config
        .into_iter()
        .chain(debian.into_iter().map(|(_, bin)| bin))
        .chain(on_path)
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

/// `bin/name` if it exists there, else `name` looked up on PATH.
fn tool(bin: &Path, name: &str) -> PathBuf {
    let path = bin.join(name);
    if path.is_file() { path } else { PathBuf::from(name) }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

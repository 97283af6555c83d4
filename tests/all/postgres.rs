//! Throwaway PostgreSQL for the tests: one server shared by the whole test process (or the one
//! `WASMPOOL_TEST_POSTGRES` names), a fresh database per caller, and a private cluster for a
//! test that stops and restarts its server. Clusters come from the system's server package and
//! die with the test process, however it ends.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a cluster may take to start, stop or answer.
const BOUND: Duration = Duration::from_secs(30);

/// A PostgreSQL server the tests may create databases on.
pub struct Postgres {
    /// URL of the database admin statements run in.
    admin: String,
    // The throwaway cluster behind `admin`, if this process started one.
    _cluster: Option<Cluster>,
}

/// The server shared by all tests of this process: the one `WASMPOOL_TEST_POSTGRES` names
/// (a URL whose database admin statements run in), else a throwaway cluster started on first
/// use.
pub fn shared() -> &'static Postgres {
    static SHARED: OnceLock<Postgres> = OnceLock::new();
    SHARED.get_or_init(|| match std::env::var("WASMPOOL_TEST_POSTGRES") {
        Ok(admin) if !admin.is_empty() => Postgres { admin, _cluster: None },
        _ => {
            let cluster = Cluster::start();
            Postgres { admin: cluster.url("postgres"), _cluster: Some(cluster) }
        }
    })
}

impl Postgres {
    /// A private throwaway cluster for one test, always, even when `WASMPOOL_TEST_POSTGRES`
    /// is set: for tests that stop and restart the server.
    pub fn own() -> OwnCluster {
        OwnCluster { cluster: Cluster::start() }
    }

    /// Creates a fresh, uniquely named database and returns its URL.
    pub fn database(&self) -> String {
        create_database(&self.admin)
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        with_database(&self.admin, database)
    }
}

/// A throwaway cluster of one test's own, stopped and removed on drop.
pub struct OwnCluster {
    cluster: Cluster,
}

impl OwnCluster {
    /// Creates a fresh, uniquely named database and returns its URL.
    pub fn database(&self) -> String {
        create_database(&self.cluster.url("postgres"))
    }

    /// The URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        self.cluster.url(database)
    }

    /// The cluster's TCP port on 127.0.0.1 (the same across stop and start).
    pub fn port(&self) -> u16 {
        self.cluster.port
    }

    /// Stops the server (fast shutdown: clients are disconnected) and waits until it is gone.
    pub fn stop(&self) {
        let output = self.cluster.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "30"]);
        assert!(output.status.success(), "pg_ctl stop: {}", self.cluster.failure(&output));
    }

    /// Starts the server again on the same port and data, and waits until it accepts
    /// connections.
    pub fn start(&self) {
        if let Err(failure) = self.cluster.start_server() {
            panic!("PostgreSQL did not start again: {failure}");
        }
    }
}

/// A cluster in a temp directory of its own: `data/`, the server log `postgres.log` and the
/// unix socket. A watchdog stops the server and removes the directory once this process
/// closes its end of the watchdog's stdin, which dropping a `Cluster` does and the kernel does
/// when the process exits, even on SIGKILL. (The shared cluster lives in a static, which is
/// never dropped.)
struct Cluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    watchdog: Child,
}

impl Cluster {
    /// initdb and start a cluster on a free port.
    fn start() -> Cluster {
        let bin = bin_dir().unwrap_or_else(|| {
            panic!(
                "no PostgreSQL server binaries (initdb, pg_ctl) found via pg_config, \
                 /usr/lib/postgresql/*/bin or PATH: install the server package (.ci/setup \
                 does) or set WASMPOOL_TEST_POSTGRES"
            )
        });
        let dir = tempfile::Builder::new()
            .prefix("wasmpool-pg-")
            .tempdir()
            .expect("a temp dir for PostgreSQL")
            .keep();
        // From here on the watchdog owns the directory: a panic below drops it, which closes
        // its stdin and so removes the directory.
        let watchdog = spawn_watchdog(&bin, &dir);
        let mut cluster = Cluster { dir, port: 0, bin, watchdog };
        if as_root() {
            let (uid, gid) = postgres_user();
            std::os::unix::fs::chown(&cluster.dir, Some(uid), Some(gid))
                .expect("chown the cluster directory to postgres");
        }
        cluster.initdb();
        cluster.start_on_free_port();
        cluster
    }

    /// The URL of `database` on this cluster.
    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// Creates the cluster and appends the tests' settings to its postgresql.conf; the port
    /// is given at each start instead, so a start that lost its port can retry on another.
    fn initdb(&self) {
        let data = self.data();
        let output = self
            .as_postgres("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
            // Skips only initdb's flush of the files it just wrote (3 s of a 4 s initdb); the
            // server itself runs with fsync on.
            .arg("--no-sync")
            .output()
            .expect("initdb runs");
        assert!(output.status.success(), "initdb: {}", self.failure(&output));
        let settings = format!(
            "\n# wasmpool tests\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nmax_connections = 300\n",
            self.dir.display().to_string().replace('\'', "''")
        );
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(&settings);
        std::fs::write(&conf, text).expect("postgresql.conf written");
    }

    /// Starts the server on a port nobody was listening on. Between releasing a probed port
    /// and the server binding it, another process may take it: then try another, a few times.
    fn start_on_free_port(&mut self) {
        let mut failure = String::new();
        for _ in 0..5 {
            self.port = free_port();
            match self.start_server() {
                Ok(()) => return,
                Err(error) if error.contains("could not bind") => failure = error,
                Err(error) => panic!("PostgreSQL did not start: {error}"),
            }
        }
        panic!("PostgreSQL found no free port: {failure}");
    }

    /// `pg_ctl start` on `self.port`, then waits (bounded) until the port accepts
    /// connections.
    fn start_server(&self) -> Result<(), String> {
        let log = self.log();
        let port = format!("-p {}", self.port);
        let output = self.pg_ctl_with(&["start", "-w", "-t", "30", "-o", &port], |command| {
            command.arg("-l").arg(&log);
        });
        if !output.status.success() {
            return Err(self.failure(&output));
        }
        self.wait_ready()
    }

    /// Polls `pg_isready` over TCP until the server accepts connections, for at most `BOUND`.
    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + BOUND;
        loop {
            let status = Command::new(self.tool("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
                .args(["-p", &self.port.to_string()])
                .status()
                .expect("pg_isready runs");
            if status.success() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready within {BOUND:?}; log:\n{}", self.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `pg_ctl ARGS -D data` as the server's user.
    fn pg_ctl(&self, args: &[&str]) -> Output {
        self.pg_ctl_with(args, |_| {})
    }

    fn pg_ctl_with(&self, args: &[&str], extra: impl FnOnce(&mut Command)) -> Output {
        let mut command = self.as_postgres("pg_ctl");
        command.args(args).arg("-D").arg(self.data());
        extra(&mut command);
        command.output().expect("pg_ctl runs")
    }

    /// A server binary run as the user owning the cluster: `postgres` when we are root (the
    /// server refuses to run as root), else ourselves. It runs in the cluster directory, since
    /// `postgres` may not be allowed into our working directory.
    fn as_postgres(&self, tool: &str) -> Command {
        let mut command = if as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(self.tool(tool));
            command
        } else {
            Command::new(self.tool(tool))
        };
        command.current_dir(&self.dir).stdin(Stdio::null());
        command
    }

    fn tool(&self, name: &str) -> PathBuf {
        tool(&self.bin, name)
    }

    /// A failed command's output and the end of the server log, for a panic message.
    fn failure(&self, output: &Output) -> String {
        format!(
            "{}\n{}{}\nserver log:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log_tail()
        )
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
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

/// Starts the watchdog of the cluster in `dir`: a shell that blocks reading its stdin, a pipe
/// only this process holds open (std opens it close-on-exec, so no other child inherits it),
/// and at end of file stops the server and removes `dir`. It runs in a process group of its
/// own so a Ctrl-C on the terminal, which also stops the test process, does not kill it first.
fn spawn_watchdog(bin: &Path, dir: &Path) -> Child {
    const SCRIPT: &str = r#"
        read -r line
        dir=$1; shift
        "$@" stop -D "$dir/data" -m immediate -w -t 30
        rm -rf "$dir"
    "#;
    let mut command = Command::new("sh");
    command.args(["-c", SCRIPT, "wasmpool-postgres-watchdog"]).arg(dir);
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
        .expect("the PostgreSQL watchdog starts")
}

/// Creates `wasmpool_test_<pid>_<counter>` through `admin` and returns its URL.
fn create_database(admin: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name =
        format!("wasmpool_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    psql(admin, &format!("CREATE DATABASE {name}"));
    with_database(admin, &name)
}

/// Runs one SQL command through `psql` against `url`; returns its unaligned, tuples-only
/// output. Panics if it fails.
pub fn psql(url: &str, sql: &str) -> String {
    let output = psql_command(url, sql).output().expect("psql runs");
    assert!(
        output.status.success(),
        "psql {sql:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn psql_command(url: &str, sql: &str) -> Command {
    let psql = bin_dir().map_or_else(|| PathBuf::from("psql"), |bin| tool(&bin, "psql"));
    let mut command = Command::new(psql);
    // -X: no ~/.psqlrc; -At: bare values; stop at the first error.
    command
        .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null());
    command
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

/// Whether we are root, so the server must run as `postgres`.
fn as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The `postgres` user's uid and gid.
fn postgres_user() -> (u32, u32) {
    let id = |flag: &str| {
        let output = Command::new("id").args([flag, "postgres"]).output().expect("id runs");
        assert!(output.status.success(), "running as root needs a `postgres` user");
        String::from_utf8_lossy(&output.stdout).trim().parse::<u32>().expect("a numeric id")
    };
    (id("-u"), id("-g"))
}

/// The directory of the server binaries: `pg_config --bindir`, else the newest
/// /usr/lib/postgresql/*/bin, else the directory `initdb` on PATH really lives in; the
/// first that has both initdb and pg_ctl.
fn bin_dir() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let pg_config = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
        let path = std::env::var_os("PATH").unwrap_or_default();
        let on_path = std::env::split_paths(&path)
            .map(|dir| dir.join("initdb"))
            .filter_map(|initdb| std::fs::canonicalize(initdb).ok())
            .filter_map(|initdb| initdb.parent().map(Path::to_path_buf));
        pg_config
            .into_iter()
            .chain(debian_bin_dirs())
            .chain(on_path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    })
    .clone()
}

/// Debian's /usr/lib/postgresql/VERSION/bin, newest version first.
fn debian_bin_dirs() -> Vec<PathBuf> {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.split('.').map(str::parse).collect::<Result<Vec<u32>, _>>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, bin)| bin).collect()
}

/// `bin/name` if it exists there, else `name` looked up on PATH.
fn tool(bin: &Path, name: &str) -> PathBuf {
    let path = bin.join(name);
    if path.is_file() { path } else { PathBuf::from(name) }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local address").port()
}

#[test]
fn shared_databases_are_fresh_and_reachable() {
    let postgres = shared();
    let first = postgres.database();
    let second = postgres.database();
    assert_ne!(first, second);
    for url in [&first, &second] {
        let name = url.rsplit('/').next().expect("a database name");
        assert_eq!(&postgres.url(name), url);
        assert_eq!(psql(url, "SELECT current_database()"), name);
        assert_eq!(psql(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0");
    }
}

#[test]
fn own_cluster_stops_restarts_and_cleans_up() {
    let cluster = Postgres::own();
    let url = cluster.database();
    assert!(url.starts_with(&cluster.url("wasmpool_test_")));
    psql(&url, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)");

    cluster.stop();
    let refused = TcpStream::connect(("127.0.0.1", cluster.port())).expect_err("server stopped");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(!psql_command(&url, "SELECT 1").output().expect("psql runs").status.success());

    cluster.start();
    assert_eq!(psql(&url, "SELECT n FROM kept"), "7");

    let dir = cluster.cluster.dir.clone();
    let port = cluster.port();
    drop(cluster);
    assert!(!dir.exists(), "{} outlived its cluster", dir.display());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "the server outlived its cluster");
}

#[test]
fn with_database_replaces_only_the_database() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgresql://u:p%2Fq@db.example:6543/admin?sslmode=disable", "x"),
        "postgresql://u:p%2Fq@db.example:6543/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://postgres@localhost", "x"),
        "postgres://postgres@localhost/x"
    );
    assert_eq!(
        with_database("postgres:///postgres?host=/run/postgresql", "x"),
        "postgres:///x?host=/run/postgresql"
    );
}

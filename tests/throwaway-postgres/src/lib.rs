//! A throwaway PostgreSQL cluster for wasmpool's tests and benchmarks: `initdb` + `pg_ctl`
//! from the system's server package on a fresh temp directory and a free loopback port (as
//! `postgres` through `runuser` when we are root: the server refuses to run as root), stopped
//! and removed by a watchdog when dropped or when this process ends, however it ends.

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a cluster may take to start, stop or answer.
const BOUND: Duration = Duration::from_secs(30);

/// A cluster in a temp directory of its own (`data/`, `postgres.log`, the socket).
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    watchdog: Child,
}

impl Cluster {
    /// `initdb` and start a cluster on a free port, in a fresh temp directory.
    pub fn start() -> Result<Cluster, String> {
        let bin = bin_dir().ok_or(
            "no PostgreSQL server binaries (initdb, pg_ctl) found via pg_config, \
             /usr/lib/postgresql/*/bin or PATH: install the server package (.ci/setup does)",
        )?;
        let dir = tempfile::Builder::new()
            .prefix("wasmpool-pg-")
            .tempdir()
            .map_err(|e| format!("a temp dir for PostgreSQL: {e}"))?
            .keep();
        // From here on the watchdog owns the directory: an error below drops the cluster,
        // which closes the watchdog's stdin and so removes the directory.
        let watchdog = spawn_watchdog(&bin, &dir)?;
        let mut cluster = Cluster { dir, port: 0, bin, watchdog };
        if as_root() {
            let (uid, gid) = postgres_user()?;
            std::os::unix::fs::chown(&cluster.dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown the cluster directory to postgres: {e}"))?;
        }
        cluster.initdb()?;
        cluster.start_on_free_port()?;
        Ok(cluster)
    }

    /// Its temp directory (`data/`, `postgres.log`, the socket).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (`pg_ctl stop -m fast`), keeping its data.
    pub fn stop(&self) -> Result<(), String> {
        let output = self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "30"])?;
        if output.status.success() { Ok(()) } else { Err(self.failure(&output)) }
    }

    /// Starts the stopped server again, on the same port and data.
    pub fn restart(&self) -> Result<(), String> {
        self.start_server()
    }

    /// The postmaster's pid (the first line of `data/postmaster.pid`).
    pub fn postmaster(&self) -> Result<u32, String> {
        let pidfile = self.data().join("postmaster.pid");
        let text = std::fs::read_to_string(&pidfile)
            .map_err(|e| format!("cannot read {}: {e}", pidfile.display()))?;
        text.lines().next().and_then(|l| l.trim().parse().ok()).ok_or("no pid".to_string())
    }

    /// The URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
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
    fn initdb(&self) -> Result<(), String> {
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
            .map_err(|e| format!("initdb: {e}"))?;
        if !output.status.success() {
            return Err(format!("initdb: {}", self.failure(&output)));
        }
        let settings = format!(
            "\n# wasmpool tests\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nmax_connections = 300\n",
            self.dir.display().to_string().replace('\'', "''")
        );
        let conf = data.join("postgresql.conf");
        let mut text =
            std::fs::read_to_string(&conf).map_err(|e| format!("postgresql.conf: {e}"))?;
        text.push_str(&settings);
        std::fs::write(&conf, text).map_err(|e| format!("postgresql.conf: {e}"))
    }

    /// Starts the server on a port nobody was listening on. Between releasing a probed port
    /// and the server binding it, another process may take it: then try another, a few times.
    fn start_on_free_port(&mut self) -> Result<(), String> {
        let mut failure = String::new();
        for _ in 0..5 {
            self.port = free_port()?;
            match self.start_server() {
                Ok(()) => return Ok(()),
                Err(error) if error.contains("could not bind") => failure = error,
                Err(error) => return Err(format!("PostgreSQL did not start: {error}")),
            }
        }
        Err(format!("PostgreSQL found no free port: {failure}"))
    }

    /// `pg_ctl start` on `self.port`, then waits (bounded) until the port accepts
    /// connections.
    fn start_server(&self) -> Result<(), String> {
        let log = self.log();
        let port = format!("-p {}", self.port);
        let output = self.pg_ctl_with(&["start", "-w", "-t", "30", "-o", &port], |command| {
            command.arg("-l").arg(&log);
        })?;
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
                .map_err(|e| format!("pg_isready: {e}"))?;
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
    fn pg_ctl(&self, args: &[&str]) -> Result<Output, String> {
        self.pg_ctl_with(args, |_| {})
    }

    fn pg_ctl_with(
        &self,
        args: &[&str],
        extra: impl FnOnce(&mut Command),
    ) -> Result<Output, String> {
        let mut command = self.as_postgres("pg_ctl");
        command.args(args).arg("-D").arg(self.data());
        extra(&mut command);
        command.output().map_err(|e| format!("pg_ctl: {e}"))
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
fn spawn_watchdog(bin: &Path, dir: &Path) -> Result<Child, String> {
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
        .map_err(|e| format!("the PostgreSQL watchdog: {e}"))
}

/// Creates `<prefix>_<pid>_<counter>` through the admin URL `admin` and returns its name and
/// URL.
pub fn create_database(admin: &str, prefix: &str) -> Result<(String, String), String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}_{}_{n}", std::process::id());
    psql(admin, &format!("CREATE DATABASE {name}"))?;
    let url = with_database(admin, &name);
    Ok((name, url))
}

/// Runs one SQL command through `psql` against `url`; returns its unaligned, tuples-only
/// output.
pub fn psql(url: &str, sql: &str) -> Result<String, String> {
    let output = psql_command(url, sql).output().map_err(|e| format!("psql: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("psql {sql:?}: {}\n{}", output.status, stderr.trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The `psql` command that [`psql`] runs.
pub fn psql_command(url: &str, sql: &str) -> Command {
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
pub fn with_database(url: &str, database: &str) -> String {
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
fn postgres_user() -> Result<(u32, u32), String> {
    let id = |flag: &str| {
        let output = Command::new("id").args([flag, "postgres"]).output();
        let output = output.ok().filter(|output| output.status.success());
        let id = output.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok());
        id.ok_or("running as root needs a `postgres` user".to_string())
    };
    Ok((id("-u")?, id("-g")?))
}

/// The directory of the server binaries: `pg_config --bindir`, else the newest
/// /usr/lib/postgresql/*/bin, else the directory `initdb` on PATH really lives in; the
/// first that has both initdb and pg_ctl.
pub fn bin_dir() -> Option<PathBuf> {
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
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind port 0: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

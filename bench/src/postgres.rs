//! The PostgreSQL behind the W1 rows on a shared store (W1pg, W1pg2): the server
//! `WASMPOOL_BENCH_POSTGRES` names (an admin URL), else a throwaway cluster from the system's
//! server package, started once per bench run and gone with it however the run ends. Each run
//! gets a fresh database. For a throwaway cluster the server's CPU time can be read from
//! `/proc`, which gives PostgreSQL's own cost per job.
//!
//! The cluster is the tests' (the `throwaway-postgres` crate): `initdb` + `pg_ctl` as
//! `postgres` when we are root, a temp directory, a free loopback port, and a watchdog that
//! stops it when this process ends, even by SIGKILL.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use throwaway_postgres::Cluster;

/// The environment variable naming a server to use instead of a throwaway cluster.
pub const ENV: &str = "WASMPOOL_BENCH_POSTGRES";

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
                let cluster = Cluster::start().map_err(|e| anyhow!(e))?;
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
        let (name, url) = throwaway_postgres::create_database(&self.admin, "wasmpool_bench")
            .map_err(|e| anyhow!(e))?;
        Ok(Database { name, url })
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
        throwaway_postgres::psql(url, sql).map_err(|e| anyhow!(e))
    }

    /// CPU time (user + system) the server's processes have used so far: the postmaster,
    /// its live children (backends, WAL writer, checkpointer, ...) and the children it has
    /// already reaped. `None` for an external server, whose processes we do not know.
    pub fn cpu_time(&self) -> Option<Result<Duration>> {
        self.cluster.as_ref().map(cpu_time)
    }
}

/// The postmaster's own times plus its reaped children's (fields 14–17 of
/// `/proc/PID/stat`), plus every live child's.
fn cpu_time(cluster: &Cluster) -> Result<Duration> {
    let postmaster = cluster.postmaster().map_err(|e| anyhow!(e))?;
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

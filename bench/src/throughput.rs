//! W1 and W3 on wasmpool: a fixed number of jobs submitted over HTTP in batches, timed from
//! the first submission until the pool's counts say all have ended (and succeeded). W1 also
//! runs on a shared PostgreSQL store, with one host or two hosts on one database.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::json;

use crate::postgres::{Database, Postgres};
use crate::server::Server;

/// How often the counts are polled: small next to the runs measured, and cheap for the
/// server (the counts are kept in memory).
const POLL: Duration = Duration::from_millis(5);

/// Where the jobs are kept.
#[derive(Clone, Copy)]
pub enum Store<'a> {
    /// The server's own SQLite file (the default store), one host.
    Sqlite,
    /// A fresh database on this server, shared by `hosts` hosts named `a`, `b`, ...
    Postgres { server: &'a Postgres, hosts: usize },
}

/// One throughput run: `total` jobs of `module` with `args`, in batches of `batch`, on
/// `workers` workers per host.
pub struct Throughput<'a> {
    pub module: &'a str,
    pub args: &'a [&'a str],
    pub total: usize,
    pub batch: usize,
    pub workers: usize,
    pub store: Store<'a>,
}

/// What a throughput run measured.
pub struct Measured {
    pub jobs_per_s: f64,
    /// PostgreSQL's own CPU time (all its processes) per job over the timed part, µs; when
    /// the store is a PostgreSQL whose processes are known.
    pub pg_cpu_us_per_job: Option<f64>,
    /// On a shared store, from the database: the jobs each host ran (by node name), and
    /// whether every job succeeded at its first attempt.
    pub per_host: Vec<(String, u64)>,
    pub each_once: Option<bool>,
}

impl Throughput<'_> {
    /// Jobs per second on fresh servers (a fresh database on a shared store).
    pub async fn jobs_per_second(&self, binary: &Path) -> Result<f64> {
        Ok(self.measure(binary).await?.jobs_per_s)
    }

    /// The full measurement; see [`Measured`].
    pub async fn measure(&self, binary: &Path) -> Result<Measured> {
        let Store::Postgres { server, hosts } = self.store else {
            return self.run(binary, None, 1).await;
        };
        let database = server.database()?;
        let measured = self.run(binary, Some((server, &database)), hosts).await;
        // Best effort: an external server should keep nothing of the bench, and a failed
        // drop must not hide the run's own result or error.
        if let Err(e) = server.drop_database(&database) {
            eprintln!("warning: {e:#}");
        }
        measured
    }

    async fn run(
        &self,
        binary: &Path,
        shared: Option<(&Postgres, &Database)>,
        hosts: usize,
    ) -> Result<Measured> {
        let mut servers = Vec::with_capacity(hosts);
        for host in 0..hosts {
            let node = node_name(host);
            let store = shared.map(|(_, database)| (database.url.as_str(), node.as_str()));
            servers.push(Server::start_on(binary, self.workers, store).await?);
        }
        // Every host gets the module before the clock starts (the same bytes under the same
        // name), so none compiles it during the timed part.
        for server in &servers {
            server.upload(self.module, "bench").await?;
        }
        let postgres = shared.map(|(postgres, _)| postgres);
        let cpu_before = postgres.and_then(Postgres::cpu_time).transpose()?;
        let job = json!({ "module": "bench", "args": self.args });
        let started = Instant::now();
        let (mut left, mut batch) = (self.total, 0);
        while left > 0 {
            let size = left.min(self.batch);
            // Batches go to the hosts in turn: each host's API takes its share.
            servers[batch % hosts].submit_batch(vec![job.clone(); size]).await?;
            left -= size;
            batch += 1;
        }
        // Generous: a no-op job takes well under a millisecond, fib(25) a few. On a shared
        // store every host counts the whole cluster's jobs, so one host's count suffices.
        let limit = Duration::from_secs(60) + Duration::from_millis(20) * self.total as u32;
        servers[0].wait_for_ended(self.total as u64, POLL, limit).await?;
        let elapsed = started.elapsed();
        let cpu_after = postgres.and_then(Postgres::cpu_time).transpose()?;
        for server in servers {
            server.stop().await?;
        }
        let pg_cpu_us_per_job = cpu_before
            .zip(cpu_after)
            .map(|(before, after)| (after - before).as_secs_f64() * 1e6 / self.total as f64);
        let mut measured = Measured {
            jobs_per_s: self.total as f64 / elapsed.as_secs_f64(),
            pg_cpu_us_per_job,
            per_host: Vec::new(),
            each_once: None,
        };
        if let Some((postgres, database)) = shared {
            self.check_database(postgres, database, elapsed, &mut measured)?;
        }
        Ok(measured)
    }

    /// Reads from the database which host ran how many jobs and whether each job succeeded
    /// at its first attempt; logs how long before the count saw it the last job ended (the
    /// hosts recount at most every 250 ms, so the timed part may run that much long).
    fn check_database(
        &self,
        postgres: &Postgres,
        database: &Database,
        elapsed: Duration,
        measured: &mut Measured,
    ) -> Result<()> {
        let rows = postgres.psql(
            &database.url,
            "SELECT coalesce(node, '?'), count(*), \
                    count(*) FILTER (WHERE state = 'succeeded' AND attempts = 1) \
             FROM jobs GROUP BY 1 ORDER BY 1",
        )?;
        let (mut total, mut once) = (0, 0);
        for line in rows.lines() {
            let fields: Vec<&str> = line.split('|').collect();
            ensure!(fields.len() == 3, "unexpected psql row {line:?}");
            let (ran, ok): (u64, u64) = (fields[1].parse()?, fields[2].parse()?);
            measured.per_host.push((fields[0].to_string(), ran));
            total += ran;
            once += ok;
        }
        measured.each_once = Some(total == self.total as u64 && once == total);
        // The span from the first submission to the last job's end, in the hosts' clock
        // (this machine's), against the span the harness timed.
        let span = postgres.psql(
            &database.url,
            "SELECT (max(finished_at) - min(submitted_at)) / 1000 FROM jobs",
        )?;
        let span_ms: f64 = span.parse().context("the jobs' span")?;
        let run_ms = elapsed.as_secs_f64() * 1e3;
        eprintln!(
            "  per host {:?}; first submission to last end {span_ms:.0} ms, timed {run_ms:.0} ms",
            measured.per_host
        );
        Ok(())
    }
}

/// The node name of the `host`-th host: `a`, `b`, ...
fn node_name(host: usize) -> String {
    char::from(b'a' + (host % 26) as u8).to_string()
}

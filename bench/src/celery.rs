//! The Celery side (W1, W2, W3): Celery with a Redis broker and result backend, from a
//! virtual environment this harness makes under `target/` (`python3 -m venv`, `pip install
//! celery redis`), against the Redis at 127.0.0.1:6379 or, without one, a `redis-server`
//! started on a free loopback port for the run. Where neither can be had the Celery column
//! is skipped with a note, not failed. `celery_pool.py` starts and stops its own worker
//! (`--pool prefork --concurrency 2`) per workload.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::plan::{Sizes, Workload};
use crate::python::{answer, expect_count, number};

/// The script, next to this crate's manifest.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/celery_pool.py");

/// What the virtual environment needs: kombu's Redis transport imports `packaging`, which
/// celery 5.7 does not always pull in.
const PACKAGES: [&str; 3] = ["celery", "redis", "packaging"];

/// Redis's usual address, tried first.
const USUAL_PORT: u16 = 6379;

/// Celery and a Redis for this run; a Redis started here stops when this is dropped.
pub struct Celery {
    python: PathBuf,
    redis_url: String,
    _redis: Option<OwnRedis>,
    /// What was used, for the table's notes.
    pub description: String,
}

impl Celery {
    /// The virtual environment (made or reused) and a Redis.
    pub fn get() -> Result<Celery> {
        let python = virtual_env()?;
        let version = Command::new(&python)
            .args(["-c", "import celery; print(celery.__version__)"])
            .output()
            .context("cannot run the virtual environment's python")?;
        ensure!(version.status.success(), "celery does not import");
        let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
        let (port, own) = if ping(USUAL_PORT) {
            (USUAL_PORT, None)
        } else {
            let own = OwnRedis::start()?;
            (own.port, Some(own))
        };
        let whose = if own.is_some() { "started for the run" } else { "already running" };
        Ok(Celery {
            python,
            redis_url: format!("redis://127.0.0.1:{port}/0"),
            _redis: own,
            description: format!(
                "Celery {version}, prefork pool of 2, Redis broker and result backend at \
                 127.0.0.1:{port} ({whose})"
            ),
        })
    }

    /// Runs the Celery side of a workload once, checking it ran wasmpool's counts.
    pub async fn measure(&self, workload: Workload, s: &Sizes) -> Result<Vec<(&'static str, f64)>> {
        let mut command = tokio::process::Command::new(&self.python);
        command.arg(SCRIPT).arg(workload.id()).env("WASMPOOL_BENCH_REDIS", &self.redis_url);
        if s.quick {
            command.arg("--quick");
        }
        let name = format!("celery_pool.py {}", workload.id());
        let answer = answer(command, &name, workload.limit()).await?;
        Ok(match workload {
            Workload::W1 | Workload::W3 => {
                let jobs = if workload == Workload::W1 { s.w1_jobs } else { s.w3_jobs };
                expect_count(&answer, "jobs", jobs)?;
                vec![("jobs_per_s", number(&answer, "jobs_per_s")?)]
            }
            Workload::W2 => {
                expect_count(&answer, "rounds", s.w2_rounds)?;
                vec![("p50_us", number(&answer, "p50_us")?), ("p99_us", number(&answer, "p99_us")?)]
            }
            other => bail!("{} has no Celery side", other.id()),
        })
    }
}

/// `target/celery-venv` with [`PACKAGES`] installed (made on first use); its python.
fn virtual_env() -> Result<PathBuf> {
    let venv = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/celery-venv"));
    let python = venv.join("bin/python");
    let has = |python: &PathBuf| {
        Command::new(python)
            .args(["-c", "import celery, redis, kombu.transport.redis"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if has(&python) {
        return Ok(python);
    }
    eprintln!("making {} (python3 -m venv; pip install {PACKAGES:?})", venv.display());
    let made = Command::new("python3").arg("-m").arg("venv").arg(&venv).status()?;
    ensure!(made.success(), "python3 -m venv failed");
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "-q"])
        .args(PACKAGES)
        .stdout(Stdio::null())
        .status()?;
    ensure!(pip.success(), "pip install {PACKAGES:?} failed");
    ensure!(has(&python), "celery with its Redis transport does not import after pip install");
    Ok(python)
}

/// Whether a Redis answers `PING` on this loopback port.
fn ping(port: u16) -> bool {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

/// A `redis-server` of this run's own: loopback only, no persistence; killed on drop.
struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    fn start() -> Result<OwnRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
            .stdout(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .context("no Redis at 127.0.0.1:6379 and no redis-server to start")?;
        let redis = OwnRedis { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ping(port) {
            ensure!(Instant::now() < deadline, "redis-server did not answer within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! Where and how a run happened (date, machine, git revision, command), and appending a
//! run's table to `bench/RESULTS.md`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, ensure};

/// The crate's directory (`bench/`), whatever the current directory.
const BENCH_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// What `bench/RESULTS.md` starts with when this harness creates it.
const HEADER: &str = "# Benchmark results\n\n\
Appended by `bench/run` (see `bench/README.md`), oldest first: one section per run with the \
date, the machine, the git revision and the exact command. Each cell is the median over the \
repetitions, with the smallest and largest in parentheses; targets apply to wasmpool's median. \
`--quick` runs are not recorded.\n";

/// The circumstances of a run.
pub struct Circumstances {
    /// UTC, to the second.
    pub date: String,
    /// e.g. `2 cores, AMD EPYC 7B13`.
    pub machine: String,
    /// `git rev-parse --short HEAD`, plus `-dirty` with uncommitted changes.
    pub revision: String,
    /// `python3 --version`.
    pub python: String,
    /// How the run was started.
    pub command: String,
}

impl Circumstances {
    /// Gathers it now; what cannot be found reads `unknown (why)`.
    pub fn gather() -> Circumstances {
        let known = |found: Result<String>| found.unwrap_or_else(|e| format!("unknown ({e:#})"));
        Circumstances {
            date: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            machine: machine(),
            revision: known(revision()),
            python: known(output("python3", &["--version"], Path::new(BENCH_DIR))),
            command: command(),
        }
    }

    /// The lines printed above the table.
    pub fn describe(&self, reps: usize) -> String {
        format!(
            "- date: {}\n- machine: {}\n- revision: {}\n- Python: {}\n- repetitions: {reps}\n\
             - command: `{}`\n",
            self.date, self.machine, self.revision, self.python, self.command
        )
    }
}

/// Appends a section to `bench/RESULTS.md`, creating the file with its header if missing.
pub fn append(section: &str) -> Result<PathBuf> {
    let path = Path::new(BENCH_DIR).join("RESULTS.md");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if file.metadata()?.len() == 0 {
        file.write_all(HEADER.as_bytes())?;
    }
    write!(file, "\n{section}")?;
    Ok(path)
}

/// Logical cores and the CPU model from `/proc/cpuinfo`.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}

/// The short revision, with `-dirty` when `git status --porcelain` lists anything.
fn revision() -> Result<String> {
    let repo = Path::new(BENCH_DIR).join("..");
    let head = output("git", &["rev-parse", "--short", "HEAD"], &repo)?;
    let status = output("git", &["status", "--porcelain"], &repo)?;
    Ok(if status.is_empty() { head } else { format!("{head}-dirty") })
}

/// The command as typed: `bench/run` passes it in `WASMPOOL_BENCH_COMMAND`; otherwise this
/// program's own arguments.
fn command() -> String {
    std::env::var("WASMPOOL_BENCH_COMMAND")
        .unwrap_or_else(|_| std::env::args().collect::<Vec<_>>().join(" "))
}

/// A command's trimmed stdout; a failure is an error.
fn output(program: &str, args: &[&str], dir: &Path) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    ensure!(out.status.success(), "{program} {}: {}", args.join(" "), out.status);
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

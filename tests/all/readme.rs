//! The README, run as written: every fenced block of `README.md` whose info string is exactly
//! `sh`, in order, as one bash script, the way a newcomer follows it on a fresh clone.
//!
//! The script runs in a temp directory standing for the clone, with HOME and the XDG
//! directories (so the compiled-module cache) inside the temp directory too. The one thing not
//! run literally: the quick start's `cargo build …` and `rustup target add …` lines. `cargo`
//! and `rustup` are shell functions in the script that check their arguments are the
//! documented ones, so a changed command is still noticed, and build nothing: `cargo` links
//! into the clone what that command would have built, already built by this test's build
//! (`target/release/wasmpool`: the binary under test; `guest/target/wasm32-wasip1/release`
//! and `guest/target/wasm32-wasip2/release`: the guests of the `artifacts` crate, the
//! components only those the README's `-p` list names). So an example using what the quick
//! start does not build fails here as it would for a reader.
//!
//! Two more differences from a reader's terminal, both to make failures visible:
//! - errexit (`set -eu`): the first failing command stops the script, and the test reports its
//!   README line and the output so far. Not `pipefail`: a reader's shell has none, and the
//!   README may pipe into `head`.
//! - `curl` is a function adding `--fail-with-body` (unless the line already says `-f`), so
//!   an example answered with an HTTP error fails instead of printing the error and going on.
//!
//! The script runs in a network namespace of its own (`unshare -n`, with `-r` when not root),
//! with only a loopback interface, so the README's ports 8080 and 8081 are used as written
//! whatever else listens on this machine; the test is skipped, saying why, where such a
//! namespace cannot be made. The PostgreSQL example runs against a throwaway cluster of the
//! test's own, reached through its Unix socket (`PGHOST`, `PGPORT`, `PGUSER`), as `createdb`
//! and `postgres:///wasmpool` reach a local server for a reader. Background servers are
//! stopped at the end, however the script ends: it leads a process group, which is killed.
//!
//! A block that must not run can be marked with `<!-- not run: REASON -->` on the line before
//! its opening fence; the test skips it and prints the reason.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use throwaway_postgres::Cluster;

/// How long the whole README may take.
const BOUND: Duration = Duration::from_secs(300);

/// The preview-1 guests `cargo build … --target wasm32-wasip1` leaves in the guest workspace.
const P1: &[(&str, &str)] = &[
    ("hello", artifacts::HELLO),
    ("echo", artifacts::ECHO),
    ("fib", artifacts::FIB),
    ("spin", artifacts::SPIN),
    ("memhog", artifacts::MEMHOG),
    ("sleeper", artifacts::SLEEPER),
    ("exit-code", artifacts::EXIT_CODE),
    ("trap", artifacts::TRAP),
    ("long-time-task", artifacts::LONG_TIME_TASK),
    ("probe", artifacts::PROBE),
    ("log-flood", artifacts::LOG_FLOOD),
    ("reactor", artifacts::REACTOR),
];

/// The components the quick start's `--target wasm32-wasip2` build leaves there.
const P2: &[(&str, &str)] = &[
    ("queue-writer", artifacts::QUEUE_WRITER),
    ("queue-reader", artifacts::QUEUE_READER),
    ("square", artifacts::SQUARE),
    ("calls", artifacts::CALLS),
];

/// What the script starts with, before the README's first line: the shims described above.
/// `cargo` and `rustup` accept exactly the README's commands. A shim's failure is returned,
/// not left to errexit inside it, so the ERR trap reports the README line that called it.
const PRELUDE: &str = r#"set -eu
trap 'status=$?; printf "\\n%s %s %s\\n" "$FAILED_MARK" "$LINENO" "$status" >&2; exit $status' ERR
cargo() {
  case "$*" in
    "build --release")
      mkdir -p target/release && ln -s "$README_BUILT/wasmpool" target/release/ ;;
    "build --release --manifest-path guest/Cargo.toml --target wasm32-wasip1")
      mkdir -p guest/target/wasm32-wasip1 &&
        ln -s "$README_BUILT/wasm32-wasip1" guest/target/wasm32-wasip1/release ;;
    "build --release --manifest-path guest/Cargo.toml --target wasm32-wasip2 -p queue-writer -p queue-reader -p square -p calls")
      mkdir -p guest/target/wasm32-wasip2 &&
        ln -s "$README_BUILT/wasm32-wasip2" guest/target/wasm32-wasip2/release ;;
    *) echo "the README test does not know this command: cargo $*" >&2; return 1 ;;
  esac
}
rustup() {
  [ "$*" = "target add wasm32-wasip1 wasm32-wasip2" ] ||
    { echo "the README test does not know this command: rustup $*" >&2; return 1; }
}
curl() {
  local arg
  for arg in "$@"; do
    case "$arg" in --fail | --fail-with-body | -[!-]*f*) command curl "$@" || return; return ;; esac
  done
  command curl --fail-with-body "$@" || return
}
ip link set lo up
"#;

/// What the ERR trap prints before the failing README line and exit status.
const FAILED_MARK: &str = "README test: failed at";

/// One `sh` block: the README line of its first command and its text.
struct Block {
    line: usize,
    text: String,
}

/// The `sh` blocks of `readme`, in order; those marked `<!-- not run: REASON -->` are left out
/// and their reasons printed.
fn sh_blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_end();
        let Some(info) = fence.strip_prefix("```") else {
            i += 1;
            continue;
        };
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].trim_end() == "```")
            .unwrap_or_else(|| panic!("README.md line {}: a block that is never closed", i + 1));
        let not_run = i.checked_sub(1).and_then(|p| {
            lines[p].trim().strip_prefix("<!-- not run:")?.strip_suffix("-->").map(str::trim)
        });
        match (info, not_run) {
            ("sh", Some(reason)) => eprintln!("README.md line {}: not run: {reason}", i + 1),
            ("sh", None) => blocks.push(Block { line: i + 2, text: lines[i + 1..end].join("\n") }),
            _ => {}
        }
        i = end + 1;
    }
    blocks
}

/// The script: the prelude sourced on line 1, then each block at its own README line (blank
/// lines in between), so bash's `$LINENO` is the README's line number.
fn script(blocks: &[Block]) -> String {
    let mut script = String::from(". \"$README_PRELUDE\"\n");
    let mut line = 2;
    for block in blocks {
        assert!(block.line >= line, "README.md line {}: blocks out of order", block.line);
        script.push_str(&"\n".repeat(block.line - line));
        writeln!(script, "{}", block.text).unwrap();
        line = block.line + block.text.lines().count();
    }
    script
}

/// What the README's builds make, as symlinks in `built`: `wasmpool`, and one directory of
/// guests per target, which the `cargo` shim links into the clone where cargo would put them.
fn lay_out_builds(built: &Path) {
    let link = |target: &str, at: &Path| {
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, at).unwrap();
    };
    link(env!("CARGO_BIN_EXE_wasmpool"), &built.join("wasmpool"));
    for (guests, target) in [(P1, "wasm32-wasip1"), (P2, "wasm32-wasip2")] {
        for (name, path) in guests {
            link(path, &built.join(format!("{target}/{name}.wasm")));
        }
    }
}

/// `unshare` with the flags that give this process a network namespace of its own, or why
/// there is none.
fn namespace() -> Result<Vec<&'static str>, String> {
    // As root a plain network namespace; otherwise a user namespace too (which would hide the
    // PostgreSQL socket from root: its directory belongs to an unmapped user).
    let flags = if is_root() { vec!["-n"] } else { vec!["-r", "-n"] };
    let probe = Command::new("unshare")
        .args(&flags)
        .args(["ip", "link", "set", "lo", "up"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if probe.status.success() {
        Ok(flags)
    } else {
        Err(format!(
            "`unshare {} ip link set lo up` failed: {}",
            flags.join(" "),
            String::from_utf8_lossy(&probe.stderr).trim()
        ))
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Waits for `child` for at most `bound`; `None` if it was still running.
fn wait_bounded(mut child: Child, bound: Duration) -> (Option<ExitStatus>, u32) {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    (rx.recv_timeout(bound).ok().map(|status| status.expect("wait for the script")), pid)
}

#[test]
fn every_sh_block_of_the_readme_runs_in_order() {
    let flags = match namespace() {
        Ok(flags) => flags,
        Err(why) => {
            eprintln!("skipped: the README test needs a network namespace of its own: {why}");
            return;
        }
    };
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let blocks = sh_blocks(&readme);
    assert!(blocks.len() >= 10, "found only {} sh blocks in README.md", blocks.len());

    let temp = tempfile::tempdir().expect("temp dir");
    let clone = temp.path().join("wasmpool");
    std::fs::create_dir_all(&clone).unwrap();
    let built = temp.path().join("built");
    lay_out_builds(&built);
    let home = temp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    // curl's progress meter, which a reader's terminal does not show, would bury the output.
    std::fs::write(home.join(".curlrc"), "silent\nshow-error\n").unwrap();
    // Outside the clone, which holds only what the README's commands make.
    let prelude = temp.path().join("prelude.sh");
    std::fs::write(&prelude, PRELUDE).unwrap();
    let script_path = temp.path().join("readme.sh");
    std::fs::write(&script_path, script(&blocks)).unwrap();
    let log_path = temp.path().join("output.log");
    let log = std::fs::File::create(&log_path).unwrap();

    let postgres = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let child = Command::new("unshare")
        .args(&flags)
        .arg("bash")
        .arg(&script_path)
        .current_dir(&clone)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("TMPDIR", temp.path())
        .env("LANG", "C.UTF-8")
        .env("FAILED_MARK", FAILED_MARK)
        .env("README_BUILT", &built)
        .env("README_PRELUDE", &prelude)
        .env("PGHOST", postgres.dir())
        .env("PGPORT", postgres.port().to_string())
        .env("PGUSER", "postgres")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("unshare bash runs");
    let (status, pgid) = wait_bounded(child, BOUND);
    // Whatever the script left running (the servers it started with `&`) goes with its group.
    let _ = rustix::process::kill_process_group(
        rustix::process::Pid::from_raw(pgid as i32).expect("a pid"),
        rustix::process::Signal::KILL,
    );
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    match status {
        Some(status) if status.success() => {
            eprintln!("{output}\n--- the README ran in {:.1?}", started.elapsed());
            let left = left_behind(&clone);
            assert!(
                left.is_empty(),
                "the README's examples left files git sees in the clone: {left:?}"
            );
        }
        Some(status) => panic!(
            "{}\n--- its output ---\n{}",
            failure(&readme, &output).unwrap_or_else(|| format!("the script ended with {status}")),
            tail(&output, 60)
        ),
        None => panic!(
            "the README did not end within {BOUND:?}\n--- its output ---\n{}",
            tail(&output, 60)
        ),
    }
}

/// What the README's commands left in `clone` that a reader's `git status` would show: the
/// clone is made a git repository with the project's `.gitignore`, after the run.
fn left_behind(clone: &Path) -> Vec<String> {
    let gitignore = Path::new(env!("CARGO_MANIFEST_DIR")).join(".gitignore");
    std::fs::copy(gitignore, clone.join(".gitignore")).expect("copy .gitignore");
    let git = |args: &[&str]| {
        let out = Command::new("git").arg("-C").arg(clone).args(args).output().expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    git(&["init", "-q"]);
    let status = git(&["status", "--porcelain", "--untracked-files=normal"]);
    status.lines().filter(|line| *line != "?? .gitignore").map(str::to_string).collect()
}

/// The README line the ERR trap reported in `output`, quoted from `readme`, with the status.
fn failure(readme: &str, output: &str) -> Option<String> {
    let mark = output.lines().rev().find_map(|l| l.strip_prefix(FAILED_MARK))?;
    let (line, status) = mark.trim().split_once(' ')?;
    let text = readme.lines().nth(line.parse::<usize>().ok()?.checked_sub(1)?)?;
    Some(format!("README.md line {line} failed (exit {status}): {}", text.trim()))
}

#[test]
fn the_extraction_takes_sh_blocks_only_at_their_lines_and_skips_those_marked_not_run() {
    let readme = "# t\n\n```sh\necho one\necho two\n```\n```bash\nnot sh\n```\n\
                  <!-- not run: needs a GPU -->\n```sh\nskipped\n```\n```sh\necho three\n```\n";
    let blocks = sh_blocks(readme);
    let found: Vec<(usize, &str)> = blocks.iter().map(|b| (b.line, b.text.as_str())).collect();
    assert_eq!(found, [(4, "echo one\necho two"), (15, "echo three")]);
    let script = script(&blocks);
    assert_eq!(script.lines().nth(3), Some("echo one"), "README line 4 is script line 4");
    assert_eq!(script.lines().nth(14), Some("echo three"), "README line 15 is script line 15");
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

//! `wasmpool build`: turns a Python task (a file and the modules beside it) into a component
//! with componentize-py, against the WIT this binary ships (embedded, so an installed binary
//! needs no checkout) or the user's own. It only prepares and runs componentize-py; nothing
//! here touches wasmtime.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context;
use clap::Args;

use super::{UsageError, exit, say};

/// The componentize-py release `wasmpool build` is tested with.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// The world built against without `--wit`: a WASI command plus the `wasmpool:task` imports.
pub const DEFAULT_WORLD: &str = "wasmpool:python/task";

/// The shipped WIT, as written out for componentize-py: the default world's package, and the
/// packages it uses in `deps/` (WASI as the linked wasmtime-wasi 48.0.8 ships it, and
/// `wasmpool:task`, the single source the host's bindings come from too).
const WIT: &[(&str, &str)] = &[
    ("world.wit", include_str!("../../../wit/python/world.wit")),
    ("deps/task.wit", include_str!("../../../wit/task.wit")),
    ("deps/cli.wit", include_str!("../../../wit/python/deps/cli.wit")),
    ("deps/clocks.wit", include_str!("../../../wit/python/deps/clocks.wit")),
    ("deps/filesystem.wit", include_str!("../../../wit/python/deps/filesystem.wit")),
    ("deps/io.wit", include_str!("../../../wit/python/deps/io.wit")),
    ("deps/random.wit", include_str!("../../../wit/python/deps/random.wit")),
    ("deps/sockets.wit", include_str!("../../../wit/python/deps/sockets.wit")),
];

/// Build a Python task into a component (a WASI command) with componentize-py, found on PATH,
/// in the active virtualenv, or at `WASMPOOL_COMPONENTIZE_PY`. The task defines
/// `class Run(exports.Run)` with a `run(self)` method (`from wit_world import exports`), and
/// may use `from wit_world.imports import queue, progress, job`. Modules beside TASK are
/// found by its imports. Exits 69 when componentize-py is missing, 1 when it refused the task
/// (its errors above), 66 when TASK cannot be read.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool build task.py                     # writes task.wasm
  wasmpool build task.py -o /tmp/task.wasm && wasmpool run /tmp/task.wasm -- 1 2
  wasmpool build --emit-wit wit/             # the shipped WIT, to start a world of your own
  wasmpool build --wit wit/ --world my:app/app task.py")]
pub struct BuildCommand {
    /// The Python file (its name, less `.py`, is the module componentize-py loads).
    #[arg(required_unless_present = "emit_wit")]
    task: Option<PathBuf>,
    /// Where to write the component [default: TASK with `.wasm` for `.py`].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// A WIT directory (a package, with the packages it uses in `deps/`) to build against
    /// instead of the shipped one; needs --world.
    #[arg(long, value_name = "DIR", requires = "world")]
    wit: Option<PathBuf>,
    /// The world to build against [default: wasmpool:python/task].
    #[arg(long, value_name = "NAME")]
    world: Option<String>,
    /// More directories to find the task's modules in (TASK's own directory always is).
    #[arg(short = 'p', long = "path", value_name = "DIR")]
    paths: Vec<PathBuf>,
    /// Write the shipped WIT into DIR and exit, to extend with a world of your own.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["task", "wit", "world", "output"])]
    emit_wit: Option<PathBuf>,
}

impl BuildCommand {
    /// Writes the WIT if asked to; else runs componentize-py and exits as the README says.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        if let Some(dir) = &self.emit_wit {
            write_wit(dir)?;
            return Ok(ExitCode::SUCCESS);
        }
        let task = self.task.clone().context("a TASK is required")?;
        let module = module_name(&task)?;
        let Some(tool) = find_componentize_py() else {
            say(format_args!(
                "wasmpool: componentize-py not found (looked at $WASMPOOL_COMPONENTIZE_PY, \
                 $VIRTUAL_ENV/bin and PATH); install it with `python3 -m pip install {COMPONENTIZE_PY}`, \
                 in a virtualenv you activate or on PATH"
            ));
            return Ok(ExitCode::from(exit::TOOL_MISSING));
        };
        let shipped = tempfile::tempdir().context("cannot make a temporary directory")?;
        let (wit, world) = match (&self.wit, &self.world) {
            (Some(wit), Some(world)) => (wit.clone(), world.clone()),
            (None, world) => {
                write_wit(shipped.path())?;
                let world = world.clone().unwrap_or_else(|| DEFAULT_WORLD.to_string());
                (shipped.path().to_path_buf(), world)
            }
            (Some(_), None) => return Err(UsageError("--wit needs --world".into()).into()),
        };
        let output = self.output.clone().unwrap_or_else(|| task.with_extension("wasm"));
        let mut command = Command::new(&tool);
        command.arg("-d").arg(&wit).arg("-w").arg(&world).arg("componentize").arg(&module);
        for dir in std::iter::once(task_dir(&task)).chain(self.paths.iter().cloned()) {
            command.arg("-p").arg(dir);
        }
        command.arg("-o").arg(&output);
        run_tool(command, &tool, &output)
    }
}

/// Writes the shipped WIT files under `dir`.
fn write_wit(dir: &Path) -> anyhow::Result<()> {
    for (name, text) in WIT {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The module componentize-py should load for `task`: its file name less `.py`, which must
/// be a Python identifier. A file that cannot be read exits 66 as elsewhere.
fn module_name(task: &Path) -> anyhow::Result<String> {
    super::read_input(task)?;
    let stem = task.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let identifier = stem.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && stem.chars().all(|c| c.is_alphanumeric() || c == '_');
    if task.extension().is_none_or(|e| e != "py") || !identifier {
        let message = format!(
            "{} is not a Python module: name it NAME.py, NAME a Python identifier",
            task.display()
        );
        return Err(UsageError(message).into());
    }
    Ok(stem.to_string())
}

/// The directory holding `task` (`.` for a bare file name).
fn task_dir(task: &Path) -> PathBuf {
    match task.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// componentize-py: `WASMPOOL_COMPONENTIZE_PY` if set, else the active virtualenv's, else
/// the first on PATH.
fn find_componentize_py() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WASMPOOL_COMPONENTIZE_PY") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let venv = std::env::var_os("VIRTUAL_ENV").map(|v| PathBuf::from(v).join("bin"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    venv.into_iter()
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join("componentize-py"))
        .find(|candidate| candidate.is_file())
}

/// Runs componentize-py with its output on stderr (so stdout stays empty, as for a compiler)
/// and maps how it ended to an exit code.
fn run_tool(mut command: Command, tool: &Path, output: &Path) -> anyhow::Result<ExitCode> {
    let stderr = std::io::stderr();
    let to_stderr = std::os::fd::AsFd::as_fd(&stderr).try_clone_to_owned()?;
    command.stdin(Stdio::null()).stdout(Stdio::from(to_stderr));
    let status = command.status().with_context(|| format!("cannot start {}", tool.display()))?;
    if status.success() {
        return Ok(ExitCode::SUCCESS);
    }
    match status.code() {
        Some(code) => {
            say(format_args!(
                "wasmpool: componentize-py could not build {} (exit code {code}; its errors are above)",
                output.display()
            ));
            Ok(ExitCode::from(exit::BUILD_FAILED))
        }
        None => anyhow::bail!("componentize-py was killed ({status})"),
    }
}

"""Plain Python functions as tasks: `Pool().map(f, xs)` with `f` an ordinary function, each
call run in a sandbox of its own by one shared runner component (`runner/wasmpool_runner.py`,
built once with `wasmpool build` and uploaded when the service lacks it).

What a call sends (the job's stdin, JSON): the source of the function's module, run in the
sandbox as a fresh module (never as `__main__`: a script's `if __name__ == "__main__":`
block stays out, as with multiprocessing's spawn start method), the function's name, and its
arguments. Which functions can go:

- a function defined at the top level of a module (or a class in it): sent by name;
- a nested function or a lambda: its own source goes too, with the values it closes over,
  which must be JSON values; a lambda must be alone on its line among lambdas, or told
  apart by its code.

Refused before anything is submitted, with a `TypeError` that says why: builtins and C
functions, functions whose source Python cannot find (typed at the interactive prompt,
made by `exec`), methods of instances, and closures over values that are not JSON.
Arguments and results travel as JSON: tuples arrive as lists, dict keys become strings, and
anything else JSON cannot carry is refused (arguments, before submission) or fails the job
(results).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import types
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

RUNNER_SOURCE = Path(__file__).with_name("runner") / "wasmpool_runner.py"
#: Bumped when what a request means changes, so old runners are not reused.
PROTOCOL = "1"


class FunctionRefused(TypeError):
    """A function that cannot be sent to the sandbox, and why."""


def request(function: Callable[..., Any]) -> Dict[str, Any]:
    """The part of a call's request that names `function` (its module's source, its name,
    and for a nested function or lambda its own source and the values it closes over)."""
    if not isinstance(function, types.FunctionType):
        kind = type(function).__name__
        raise FunctionRefused(
            f"{function!r} is a {kind}, not a Python function: only functions written in "
            "Python (def or lambda) can run in the sandbox")
    module = sys.modules.get(function.__module__)
    try:
        source = inspect.getsource(module) if module is not None else None
    except (OSError, TypeError):
        source = None
    if not source:
        raise FunctionRefused(
            f"the source of {function.__qualname__}'s module ({function.__module__}) cannot be "
            "found (a function typed at the interactive prompt or made by exec): put it in a file")
    filename = os.path.basename(getattr(module, "__file__", None) or "<task>")
    name = "__mp_main__" if function.__module__ == "__main__" else function.__module__
    spec: Dict[str, Any] = {"module": name, "filename": filename, "source": source,
                            "function": function.__qualname__}
    if "<locals>" in function.__qualname__ or function.__name__ == "<lambda>":
        spec.update(_inner(function, source))
    return spec


def _inner(function: types.FunctionType, module_source: str) -> Dict[str, Any]:
    """A nested function's or a lambda's own source and closure, bound to a fresh name."""
    closure: Dict[str, Any] = {}
    for var, cell in zip(function.__code__.co_freevars, function.__closure__ or ()):
        try:
            value = cell.cell_contents
        except ValueError:
            raise FunctionRefused(
                f"{function.__qualname__} closes over `{var}`, which has no value yet") from None
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise FunctionRefused(
                f"{function.__qualname__} closes over `{var}` ({type(value).__name__}), "
                "which is not a JSON value and cannot be sent (define it at the top of the "
                "module instead)") from None
        closure[var] = value
    bound = "__wasmpool_function__"
    if function.__name__ == "<lambda>":
        definition = f"{bound} = {_lambda_source(function, module_source)}\n"
    else:
        try:
            text = textwrap.dedent(inspect.getsource(function))
        except (OSError, TypeError):
            raise FunctionRefused(f"the source of {function.__qualname__} cannot be found") from None
        definition = f"{text}\n{bound} = {function.__name__}\n"
    return {"definition": definition, "closure": closure, "function": bound}


def _lambda_source(function: types.FunctionType, module_source: str) -> str:
    """The lambda's own text, found in its module by line and told apart by its code."""
    line = function.__code__.co_firstlineno
    try:
        tree = ast.parse(module_source)
    except SyntaxError:
        tree = None
    candidates = [node for node in ast.walk(tree) if isinstance(node, ast.Lambda)
                  and node.lineno == line] if tree else []
    texts = [ast.get_source_segment(module_source, node) for node in candidates]
    texts = [text for text in texts if text]
    if len(texts) > 1:
        same = [text for text in texts if _same_code(text, function)]
        texts = same if len(same) == 1 else []
    if len(texts) != 1:
        raise FunctionRefused(
            f"the lambda on line {line} cannot be told apart from the others there: "
            "give it a name with def")
    return texts[0]


def _same_code(text: str, function: types.FunctionType) -> bool:
    try:
        compiled = eval(compile(text, "<lambda>", "eval"), {})  # noqa: S307 (our own source)
    except Exception:  # a lambda whose defaults need names from elsewhere
        return False
    return compiled.__code__.co_code == function.__code__.co_code


def arguments(function: Callable[..., Any], args: Sequence[Any],
              kwargs: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The call's arguments, checked to be JSON before anything is submitted."""
    payload = {"args": list(args), "kwargs": dict(kwargs or {})}
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as error:
        raise FunctionRefused(
            f"the arguments of {getattr(function, '__qualname__', function)} are not JSON "
            f"values ({error}): arguments travel as JSON") from None
    return payload


def decode(job: Mapping[str, Any]) -> Any:
    """The function's result from a succeeded job."""
    return json.loads(job.get("stdout") or "null")["result"]


def remote_error(job: Mapping[str, Any]) -> Optional[Dict[str, str]]:
    """The exception a failed call raised (`type`, `message`, `traceback`), if it got that far."""
    try:
        answer = json.loads(job.get("stdout") or "")
    except ValueError:
        return None
    error = answer.get("error") if isinstance(answer, dict) else None
    return error if isinstance(error, dict) else None


# -- the runner component ----------------------------------------------------------------

def runner_key(packages: Sequence[str] = ()) -> str:
    """What names a runner: its source, the request protocol and the bundled packages."""
    digest = hashlib.sha256(PROTOCOL.encode())
    digest.update(RUNNER_SOURCE.read_bytes())
    for package in sorted(os.path.abspath(p) for p in packages):
        digest.update(package.encode())
        for path in sorted(_files(package)):
            digest.update(str(path).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _files(package: str) -> List[Path]:
    root = Path(package)
    return [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()
                                           and "__pycache__" not in p.parts]


def check_packages(packages: Sequence[str]) -> None:
    """Refuses what cannot go into a runner: a path that is missing, not Python, or a
    package with native extensions (the sandbox runs WebAssembly: C extensions built for
    this machine cannot load there)."""
    for package in packages:
        root = Path(package)
        if not root.exists():
            raise FunctionRefused(f"package {package}: no such file or directory")
        if root.is_file() and root.suffix != ".py":
            raise FunctionRefused(f"package {package}: give a .py module or a package directory")
        native = [p for p in _files(package) if p.suffix in (".so", ".pyd", ".dylib")]
        if native:
            raise FunctionRefused(
                f"package {package} has native extensions ({native[0].name}): only pure-Python "
                "packages can be bundled into a runner")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wasmpool" / "runners"


def build_runner(packages: Sequence[str] = ()) -> Path:
    """The runner component for `packages`: `WASMPOOL_RUNNER` if set and no packages are
    asked for, else one built before (kept under `~/.cache/wasmpool/runners/`), else built
    now with `wasmpool build` (the binary in `WASMPOOL_BIN`, else on PATH; it needs
    componentize-py: see the README's Python tasks). A build takes about 30 s, once."""
    given = os.environ.get("WASMPOOL_RUNNER")
    if given and not packages:
        return Path(given)
    check_packages(packages)
    key = runner_key(packages)
    target = cache_dir() / f"runner-{key}.wasm"
    if target.is_file():
        return target
    binary = os.environ.get("WASMPOOL_BIN") or shutil.which("wasmpool")
    if not binary:
        raise FunctionRefused(
            "plain functions need the runner component, built once by `wasmpool build`: put the "
            "wasmpool binary on PATH (or name it in WASMPOOL_BIN), or set WASMPOOL_RUNNER to a "
            "runner you built")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        shutil.copy(RUNNER_SOURCE, work)
        imports = []
        for package in packages:
            destination = os.path.join(work, os.path.basename(os.path.normpath(package)))
            if os.path.isdir(package):
                shutil.copytree(package, destination,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(package, destination)
            imports.append(f"import {Path(destination).stem}\n")
        # The runner imports this while it is built, so the packages are in its snapshot
        # (componentize-py keeps only what is imported then).
        if imports:
            Path(work, "wasmpool_packages.py").write_text("".join(imports))
        # A name of its own: another process may be building the same runner meanwhile.
        partial = Path(work) / "runner.wasm"
        done = subprocess.run([binary, "build", os.path.join(work, RUNNER_SOURCE.name),
                               "-o", str(partial)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"building the runner failed (exit code {done.returncode}):\n"
                               f"{done.stderr.strip()}")
        staged = target.with_name(f"{target.name}.{os.getpid()}.partial")
        shutil.copyfile(partial, staged)
        os.replace(staged, target)
    return target

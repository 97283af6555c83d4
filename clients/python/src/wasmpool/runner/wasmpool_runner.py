"""wasmpool's runner for plain Python functions: one pre-built task (a component built by
`wasmpool build`) that runs any function the client sends, each call in a sandbox of its own.

The job's stdin is one JSON object:

    {"module": "__mp_main__", "filename": "demo.py", "source": "<the module's source>",
     "function": "square", "args": [7], "kwargs": {},
     "definition": null, "closure": {}}

The runner runs `source` as a fresh module named `module` (never `__main__`, so a script's
`if __name__ == "__main__":` block stays out, as with multiprocessing's spawn), binds the
`closure` values in it and runs `definition` (the source of a nested function or lambda) if
given, then calls `function` with the arguments. Whatever the function prints goes to the
job's stderr; stdout is the answer alone, one JSON object: `{"result": ...}`, or
`{"error": {"type", "message", "traceback"}}` with exit code 1 when it raised.
"""

import importlib
import json
import linecache
import sys
import traceback
import types

from wit_world import exports

#: Standard-library modules left out of the runner: GUIs, tools, tests, and what only prints
#: or opens something when imported.
LEFT_OUT = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "lib2to3",
            "test", "ensurepip", "venv", "distutils", "pydoc", "pydoc_data", "__phello__",
            "_pyrepl", "pdb", "doctest", "unittest"}


def _preload():
    """Imports the standard library while the runner is built: componentize-py keeps what is
    imported then (in the component's snapshot), and nothing else, so a module imported
    first by a call would not be found. What cannot load in WASI (sockets' C parts, ctypes,
    ...) is skipped; a call that imports it fails as it would."""
    for name in sorted(sys.stdlib_module_names - LEFT_OUT):
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: BLE001 (any failure just leaves it out)
            pass
    try:  # the pure-Python packages a runner of one's own bundles (`Pool(packages=...)`)
        import wasmpool_packages  # noqa: F401
    except ModuleNotFoundError:
        pass


_preload()

#: Modules a script imports for its own side (the client, the pool) that a call never uses:
#: they import as empty modules here, so the script's top level runs in the sandbox.
CLIENT_SIDE = ("wasmpool", "wasmpool.pool", "wasmpool.client", "wasmpool.queues")


class _ClientSide:
    """What `from wasmpool import Pool` gives a script's top level in the sandbox: a name
    that says where it belongs if it is ever used."""

    def __init__(self, name):
        self._name = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(
            f"{self._name} is the client's: a call runs in the sandbox, where there is no "
            "service to talk to (guard the script's own work with if __name__ == '__main__')")

    def __getattr__(self, attribute):
        return _ClientSide(f"{self._name}.{attribute}")


def _stub_client_side():
    for name in CLIENT_SIDE:
        module = types.ModuleType(name)
        module.__getattr__ = lambda attribute, name=name: _ClientSide(f"{name}.{attribute}")
        sys.modules.setdefault(name, module)


def _load(request):
    name = request.get("module") or "__mp_main__"
    filename = request.get("filename") or "<task>"
    source = request["source"]
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module
    # Tracebacks show the task's own lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        exec(compile(source, filename, "exec"), module.__dict__)
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"{error} (the sandbox runs {filename} afresh to find the function, and has only "
            "the standard library: bundle pure-Python packages with Pool(packages=[...]), or "
            "import the module inside the function or under if __name__ == '__main__')",
            name=error.name) from None
    return module


def _function(module, request):
    namespace = module.__dict__
    namespace.update(request.get("closure") or {})
    definition = request.get("definition")
    if definition:
        exec(compile(definition, module.__file__, "exec"), namespace)
        return namespace[request["function"]]
    target = module
    for part in request["function"].split("."):
        target = getattr(target, part)
    return target


def call(request):
    """Runs the request's function and returns its result."""
    _stub_client_side()
    module = _load(request)
    function = _function(module, request)
    return function(*request.get("args", []), **(request.get("kwargs") or {}))


def _encode(answer):
    return json.dumps(answer, separators=(",", ":"))


def _answer(stdout, text):
    """Writes the one JSON object stdout holds: the answer, nothing else."""
    stdout.write(text)
    stdout.flush()


class Run(exports.Run):
    def run(self) -> None:
        stdout = sys.stdout
        sys.stdout = sys.stderr
        try:
            request = json.load(sys.stdin)
            # Encoded here, so a result JSON cannot carry fails as the call's own error.
            answer = _encode({"result": call(request)})
        except BaseException as error:  # SystemExit and KeyboardInterrupt too: all are answers
            trace = traceback.format_exc()
            sys.stderr.write(trace)
            _answer(stdout, _encode({"error": {"type": type(error).__qualname__,
                                               "message": str(error), "traceback": trace}}))
            sys.exit(1)
        _answer(stdout, answer)

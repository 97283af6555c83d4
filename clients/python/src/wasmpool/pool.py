"""`Pool`: `multiprocessing.Pool`'s shape over a wasmpool service.

A task is a module the service knows (its name or hash), or a path to a `.wasm` file, which
the pool uploads once. Each item becomes one job's arguments (a string or number one
argument, a tuple or list several); a job's result is its stdout as text, and a job that
does not succeed raises `JobFailed`.

A task `"MODULE#FUNCTION"` is a call of an exported function instead (`"mathlib#square"`,
`"shapes#my:pkg/geometry#area"`): each item is its parameters (a tuple several, anything
else one: a list is one `list<...>` parameter, a dict one record), and the result is what
the function returned, decoded from JSON (an `err` result raises `JobFailed`).

A task may also be a plain Python function (see `functions.py`): each call runs in its own
sandbox, with its arguments and result as JSON, as `multiprocessing.Pool` runs it in a
worker process. Submissions go in batches (`POST /v1/jobs/batch`, a thousand jobs a
request), and a collector thread waits on up to 10,000 of them at once (`POST
/v1/jobs/wait`, which answers as soon as any has ended, with every ended one), each thread
over one kept-alive connection: a `map` over many items costs a request per thousand items
to submit and a few to collect, not one per item.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Union

from . import functions
from .client import BATCH, WAIT_IDS, ApiError, Args, Client, JobFailed, job_args

Task = Union[str, "os.PathLike[str]", Callable[..., Any]]


class AsyncResult:
    """The result of one job, as `multiprocessing.pool.AsyncResult`."""

    def __init__(self, job_id: int, callback: Optional[Callable[[Any], None]] = None,
                 error_callback: Optional[Callable[[BaseException], None]] = None):
        self.job_id = job_id
        self._callback = callback
        self._error_callback = error_callback
        self._event = threading.Event()
        self._value: Any = None
        self._error: Optional[BaseException] = None
        self._notify: Optional[Callable[["AsyncResult"], None]] = None
        # Whether the job is a plain function's call (its result is JSON, not stdout).
        self._function = False

    def ready(self) -> bool:
        """Whether the job has ended."""
        return self._event.is_set()

    def successful(self) -> bool:
        """Whether the job succeeded; `ValueError` if it has not ended yet."""
        if not self.ready():
            raise ValueError(f"job {self.job_id} has not ended")
        return self._error is None

    def wait(self, timeout: Optional[float] = None) -> None:
        """Waits until the job ended, or `timeout` seconds passed."""
        self._event.wait(timeout)

    def get(self, timeout: Optional[float] = None) -> Any:
        """The job's stdout (a plain function's call: its return value); raises `JobFailed`
        if it failed, or
        `multiprocessing.TimeoutError` if it had not ended within `timeout` seconds."""
        if not self._event.wait(timeout):
            raise multiprocessing.TimeoutError(f"job {self.job_id} has not ended")
        if self._error is not None:
            raise self._error
        return self._value

    def _set(self, value: Any = None, error: Optional[BaseException] = None) -> None:
        self._value, self._error = value, error
        self._event.set()
        try:
            if error is None and self._callback is not None:
                self._callback(value)
            elif error is not None and self._error_callback is not None:
                self._error_callback(error)
        finally:
            if self._notify is not None:
                self._notify(self)


def job_output(job: Dict[str, Any]) -> str:
    """A succeeded job's stdout as text."""
    if job.get("stdout") is not None:
        return job["stdout"]
    import base64

    return base64.b64decode(job.get("stdout_base64") or b"").decode("utf-8", "replace")


def split_call(task: Task) -> Optional[tuple]:
    """`("MODULE", "FUNCTION")` for a task `"MODULE#FUNCTION"`; `None` for a module (a name,
    a hash or a `.wasm` path)."""
    if isinstance(task, os.PathLike):
        return None
    module, sep, function = task.partition("#")
    if not sep or not module or not function:
        return None
    return module, function


def is_function(task: Task) -> bool:
    """Whether `task` is a plain Python function (run by the runner), not a module."""
    return callable(task) and not isinstance(task, os.PathLike)


def call_params(item: Any) -> List[Any]:
    """A call's parameters from a `Pool` item: a tuple is several, anything else one."""
    return list(item) if isinstance(item, tuple) else [item]


class Pool:
    """Jobs on a wasmpool service, driven like `multiprocessing.Pool`.

    `server` and `token` default as the CLI's (`WASMPOOL_SERVER`, `WASMPOOL_TOKEN`); an int
    there, as in the seeds' `Pool(4)`, is multiprocessing's `processes`, accepted and unused
    (the service's workers decide how many jobs run at once). `lane` names the lane the jobs
    run in; `job_fields` are added to every job (`timeout_ms`, `env`, `max_attempts`, ...).
    `waiters` is how many collector threads may wait at once (each on up to 10,000 jobs;
    a new one starts when jobs are submitted while the others are waiting). `packages`
    (paths of pure-Python modules or package directories) go into the runner that plain
    functions run in.
    Leaving a `with` block terminates the pool, as `multiprocessing.Pool` does.
    """

    def __init__(self, server: Union[str, int, None] = None, token: Optional[str] = None,
                 lane: Optional[str] = None, *, client: Optional[Client] = None,
                 waiters: int = 8, packages: Iterable[str] = (), **job_fields: Any):
        if isinstance(server, int) and not isinstance(server, bool):
            # `Pool(4)` as the seeds write it: the service's workers set how many jobs run
            # at once, so the count of processes is accepted and not used.
            server = None
        self.client = client or Client(server, token)
        # Pure-Python packages (paths) bundled into this pool's runner, for plain functions.
        self._packages = list(packages)
        functions.check_packages(self._packages)
        self._runner: Optional[str] = None
        self._fields = dict(job_fields, lane=lane)
        self._waiters = max(1, waiters)
        self._lock = threading.Lock()
        # Signalled when the last collector ends (`join` waits for it).
        self._idle = threading.Condition(self._lock)
        self._pending: Dict[int, AsyncResult] = {}
        # Jobs submitted that no collector waits on yet, oldest first.
        self._unclaimed: Deque[AsyncResult] = deque()
        self._collectors = 0
        self._state = "running"
        self._uploaded: Dict[str, str] = {}

    # -- multiprocessing.Pool's methods --------------------------------------------------

    def apply_async(self, task: Task, args: Args = (), callback=None, error_callback=None
                    ) -> AsyncResult:
        """Submits one job with `args` (a tuple: its arguments); returns its `AsyncResult`."""
        item = tuple(args) if isinstance(args, list) else args
        return self._submit(task, [item], callback, error_callback, spread=True)[0]

    def apply(self, task: Task, args: Args = ()) -> str:
        """Runs one job and returns its stdout."""
        return self.apply_async(task, args).get()

    def map(self, task: Task, iterable: Iterable[Args], chunksize: Optional[int] = None
            ) -> List[str]:
        """One job per item; their stdouts, in order. `chunksize` is accepted and unused:
        submissions are batched anyway."""
        return [result.get() for result in self._submit(task, list(iterable))]

    def starmap(self, task: Task, iterable: Iterable[Iterable[Any]],
                chunksize: Optional[int] = None) -> List[str]:
        """Like `map`, each item the tuple of a job's arguments."""
        items: List[Args] = [tuple(item) for item in iterable]
        return [result.get() for result in self._submit(task, items, spread=True)]

    def imap(self, task: Task, iterable: Iterable[Args], chunksize: int = 1) -> Iterator[str]:
        """Like `map`, yielding each stdout in order as soon as it is there."""
        results = self._submit(task, list(iterable))
        return (result.get() for result in results)

    def imap_unordered(self, task: Task, iterable: Iterable[Args], chunksize: int = 1
                       ) -> Iterator[str]:
        """Like `imap`, yielding each stdout as its job ends, in the order they end."""
        done: "queue.SimpleQueue[AsyncResult]" = queue.SimpleQueue()
        results = self._submit(task, list(iterable), notify=done.put)

        def collect() -> Iterator[str]:
            for _ in results:
                yield done.get().get()

        return collect()

    def close(self) -> None:
        """Takes no more tasks; `join` then waits for the submitted ones."""
        with self._lock:
            if self._state == "running":
                self._state = "closed"

    def terminate(self) -> None:
        """Takes no more tasks and cancels every job not yet ended."""
        with self._lock:
            self._state = "terminated"
            pending = [job_id for job_id, result in self._pending.items() if not result.ready()]
        for job_id in pending:
            try:
                self.client.cancel(job_id)
            except ApiError as error:
                if error.status not in (404, 409):  # already gone or ended
                    raise
        self._wait_collected()

    def join(self) -> None:
        """Waits until every submitted job ended; call `close` or `terminate` first."""
        if self._state == "running":
            raise ValueError("Pool is still running: close() or terminate() it first")
        self._wait_collected()

    def _wait_collected(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._collectors == 0 and not self._unclaimed)

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.terminate()

    # -- the rest --------------------------------------------------------------------------

    def _module(self, task: Task) -> str:
        """The module to name in jobs: `task`, or the hash of the `.wasm` file it names."""
        path = os.fspath(task)
        if not (isinstance(task, os.PathLike) or path.endswith(".wasm")):
            return path
        with self._lock:
            known = self._uploaded.get(path)
        if known is None:
            known = self.client.upload(path)["hash"]
            with self._lock:
                self._uploaded[path] = known
        return known

    def _runner_module(self) -> str:
        """The runner's name on the service, uploaded (and first built) if it lacks it."""
        with self._lock:
            known = self._runner
        if known is None:
            key = functions.runner_key(self._packages)
            known = f"python-runner-{key}"
            if self.client.module(known) is None:
                self.client.upload(str(functions.build_runner(self._packages)), known)
            with self._lock:
                self._runner = known
        return known

    def _specs(self, task: Task, items: List[Args], spread: bool) -> List[Dict[str, Any]]:
        """The jobs for `items`: a module's (items are arguments), or a function's calls
        (each item one argument, or with `spread` the tuple of its arguments)."""
        fields = {key: value for key, value in self._fields.items() if value is not None}
        if not is_function(task):
            call = split_call(task)
            if call is not None:
                module = self._module(call[0])
                return [dict(fields, module=module, call=call[1], params=call_params(item))
                        for item in items]
            module = self._module(task)
            return [dict(fields, module=module, args=job_args(item)) for item in items]
        named = functions.request(task)
        calls = [functions.arguments(task, item if spread else (item,)) for item in items]
        module = self._runner_module()
        name = task.__qualname__.replace("<locals>.", "")[:64]
        return [dict(fields, module=module, name=name, args=[],
                     stdin=json.dumps(dict(named, **call), separators=(",", ":")))
                for call in calls]

    def _submit(self, task: Task, items: List[Args], callback=None, error_callback=None,
                notify=None, spread: bool = False) -> List[AsyncResult]:
        if self._state != "running":
            raise ValueError("Pool not running")
        specs = self._specs(task, items, spread)
        function = is_function(task)
        results = []
        # Batch by batch, so the first jobs' ends are collected while the rest go in.
        for start in range(0, len(specs), BATCH):
            batch = []
            for job_id in self.client.submit_batch(specs[start:start + BATCH]):
                result = AsyncResult(job_id, callback, error_callback)
                result._notify = notify
                result._function = function
                batch.append(result)
            self._collect_later(batch)
            results.extend(batch)
        return results

    def _collect_later(self, results: List[AsyncResult]) -> None:
        """Hands jobs to the collectors, starting one if all are waiting on others."""
        with self._lock:
            self._pending.update((result.job_id, result) for result in results)
            self._unclaimed.extend(results)
            if self._collectors >= self._waiters:
                return
            self._collectors += 1
        threading.Thread(target=self._collect, name="wasmpool-wait", daemon=True).start()

    def _collect(self) -> None:
        """A collector: claims up to `WAIT_IDS` unclaimed jobs, waits on them with one
        request at a time, settles those that ended, claims more; ends when it has none."""
        mine: Dict[int, AsyncResult] = {}
        while True:
            with self._lock:
                while self._unclaimed and len(mine) < WAIT_IDS:
                    result = self._unclaimed.popleft()
                    mine[result.job_id] = result
                if not mine:
                    self._collectors -= 1
                    self._idle.notify_all()
                    return
            try:
                ended = self.client.wait_any(list(mine))["ended"]
            except ApiError as error:
                ended = [] if error.status != 404 else self._missing(mine, error)
                if error.status != 404:
                    self._settle_all(mine, error)
            except Exception as error:  # the service went away: the results say so
                ended = []
                self._settle_all(mine, error)
            for job in ended:
                result = mine.pop(job["id"], None)
                if result is not None:
                    self._settle(result, job)

    def _settle_all(self, mine: Dict[int, AsyncResult], error: BaseException) -> None:
        for result in mine.values():
            self._settle(result, error=error)
        mine.clear()

    def _missing(self, mine: Dict[int, AsyncResult], error: ApiError) -> List[Dict[str, Any]]:
        """Some jobs waited on are gone (deleted): each of those fails with the 404."""
        for job_id in list(mine):
            try:
                self.client.job(job_id)
            except ApiError as gone:
                if gone.status == 404:
                    self._settle(mine.pop(job_id), error=error)
        return []

    def _settle(self, result: AsyncResult, job: Optional[Dict[str, Any]] = None,
                error: Optional[BaseException] = None) -> None:
        try:
            if job is None:
                result._set(error=error)
            elif result._function:
                self._settle_call(result, job)
            elif job["state"] == "succeeded" and job.get("call") is not None:
                result._set(job.get("result"))
            elif job["state"] == "succeeded":
                result._set(job_output(job))
            else:
                result._set(error=JobFailed(job))
        except Exception:  # a callback's own error must not stop the collector
            import traceback

            traceback.print_exc()
        finally:
            with self._lock:
                self._pending.pop(result.job_id, None)

    @staticmethod
    def _settle_call(result: AsyncResult, job: Dict[str, Any]) -> None:
        """A plain function's call: its decoded result, or the exception it raised."""
        if job["state"] == "succeeded":
            try:
                result._set(functions.decode(job))
            except (ValueError, KeyError, TypeError) as error:
                result._set(error=error)
            return
        remote = functions.remote_error(job)
        result._set(error=JobFailed.of_call(job, remote) if remote else JobFailed(job))

"""`Client`: the service's HTTP API, one method per route a Python program needs.

Standard library only. Requests go over one kept-alive HTTP/1.1 connection per thread
(`http.client`), so a program that makes thousands of them pays for one TCP connection, not
one each. Every error the service answers becomes `ApiError`; a service that cannot be
reached raises `urllib.error.URLError` (an `OSError`).
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.parse
from typing import (Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple,
                    Union)

DEFAULT_SERVER = "http://127.0.0.1:8080"
#: Jobs per `POST /v1/jobs/batch`: the service's default `--max-batch`.
BATCH = 1000
#: The longest wait the service grants per request by default (`--max-wait`), in ms.
MAX_WAIT_MS = 60_000
#: Jobs per `POST /v1/jobs/wait`: the most the service waits on in one request.
WAIT_IDS = 10_000
#: States a job never leaves.
ENDED = frozenset({"succeeded", "failed", "timed_out", "cancelled"})


class ApiError(Exception):
    """The service answered with an error: `status`, and the body's `code` and `message`."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class JobFailed(Exception):
    """A job ended without succeeding: `job_id`, `state` (`failed`, `timed_out`,
    `cancelled`), `exit_code`, `error` (the service's reason, if any) and `stderr`; `job` is
    the whole job as the service shows it."""

    def __init__(self, job: Mapping[str, Any]):
        self.job = dict(job)
        self.job_id: int = job["id"]
        self.state: str = job["state"]
        self.exit_code: Optional[int] = job.get("exit_code")
        self.error: Optional[str] = job.get("error")
        self.stderr: str = job.get("stderr") or ""
        #: What a call returned when it failed with an `err` result (`{"err": ...}`).
        self.result: Any = job.get("result")
        #: For a plain function's call that raised: the exception's type and message, and
        #: the traceback as the sandbox printed it.
        self.remote_type: Optional[str] = None
        self.remote_traceback: Optional[str] = None
        reason = self.error or f"exit code {self.exit_code}"
        super().__init__(f"job {self.job_id} {self.state}: {reason}")

    @classmethod
    def of_call(cls, job: Mapping[str, Any], remote: Mapping[str, str]) -> "JobFailed":
        """The failure of a plain function's call that raised `remote` in the sandbox."""
        failed = cls(job)
        failed.remote_type = remote.get("type")
        failed.remote_traceback = remote.get("traceback")
        failed.args = (f"job {failed.job_id} {failed.state}: {remote.get('type')}: "
                       f"{remote.get('message')}\n\nRemote traceback:\n"
                       f"{remote.get('traceback', '').rstrip()}",)
        return failed


Args = Union[str, int, float, Sequence[Any]]


def job_args(item: Args) -> List[str]:
    """A job's arguments from a `Pool` item: a string (or number) is one argument, a tuple or
    list several."""
    if isinstance(item, (tuple, list)):
        return [str(arg) for arg in item]
    return [str(item)]


class Client:
    """A wasmpool service. `server` defaults to `WASMPOOL_SERVER`, then
    `http://127.0.0.1:8080`; `token` to `WASMPOOL_TOKEN`, as the CLI's."""

    def __init__(self, server: Optional[str] = None, token: Optional[str] = None,
                 timeout: float = 90.0):
        self.server = (server or os.environ.get("WASMPOOL_SERVER") or DEFAULT_SERVER).rstrip("/")
        self.token = token if token is not None else os.environ.get("WASMPOOL_TOKEN")
        self.timeout = timeout
        url = urllib.parse.urlsplit(self.server)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"server {self.server!r} is not an http:// or https:// URL")
        self._https = url.scheme == "https"
        self._address = (url.hostname, url.port)
        self._prefix = url.path.rstrip("/")
        # One connection per thread: `http.client` connections are not thread-safe.
        self._local = threading.local()

    # -- plumbing ------------------------------------------------------------------------

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return kind(self._address[0], self._address[1], timeout=timeout)

    def _headers(self, content_type: Optional[str]) -> Dict[str, str]:
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _exchange(self, method: str, path: str, body: Optional[bytes] = None,
                  content_type: Optional[str] = None, timeout: Optional[float] = None
                  ) -> Tuple[int, bytes]:
        """Sends one request on this thread's kept-alive connection; returns the status and
        the body, or raises `ApiError` for an error status."""
        timeout = timeout or self.timeout
        for attempt in (1, 2):
            connection = getattr(self._local, "connection", None)
            reused = connection is not None
            if connection is None:
                connection = self._local.connection = self._connect(timeout)
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            try:
                connection.request(method, self._prefix + path, body=body,
                                   headers=self._headers(content_type))
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
                self._drop()
                # A kept-alive connection the service closed while idle: the request never
                # reached it, so it goes again once on a new connection.
                if reused and attempt == 1:
                    continue
                raise urllib.error.URLError(error) from error
            except (OSError, http.client.HTTPException) as error:
                self._drop()
                raise urllib.error.URLError(error) from error
            if response.will_close:
                self._drop()
            if response.status >= 400:
                raise _api_error(response.status, response.reason, data)
            return response.status, data
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    def _call(self, method: str, path: str, payload: Any = None,
              timeout: Optional[float] = None) -> Any:
        body = None if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        kind = None if payload is None else "application/json"
        _, text = self._exchange(method, path, body, kind, timeout)
        return json.loads(text) if text else None

    # -- modules -------------------------------------------------------------------------

    def upload(self, module: Union[str, os.PathLike, bytes], name: Optional[str] = None
               ) -> Dict[str, Any]:
        """Uploads a `.wasm` (a path, or its bytes); the service validates and compiles it
        (a Python component's first compile takes tens of seconds). Returns the module."""
        data = module if isinstance(module, bytes) else open(module, "rb").read()
        query = "?" + urllib.parse.urlencode({"name": name}) if name else ""
        _, answer = self._exchange("POST", f"/v1/modules{query}", data, "application/wasm",
                                   timeout=max(self.timeout, 600.0))
        return json.loads(answer)

    def modules(self) -> List[Dict[str, Any]]:
        """Every module, newest first."""
        return self._call("GET", "/v1/modules")

    def module(self, module: str) -> Optional[Dict[str, Any]]:
        """The module with this name or hash, or None if the service has none."""
        try:
            return self._call("GET", f"/v1/modules/{_quote(module)}")
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    # -- jobs ----------------------------------------------------------------------------

    def submit(self, module: str, args: Iterable[Any] = (), **fields: Any) -> int:
        """Queues one job of `module` (a name or hash) with `args`; `fields` are the other
        fields of `POST /v1/jobs` (`stdin`, `env`, `lane`, `timeout_ms`, ...). Returns its id."""
        return self._call("POST", "/v1/jobs", _spec(module, args, fields))["id"]

    def submit_call(self, module: str, function: str, params: Iterable[Any] = (),
                    **fields: Any) -> int:
        """Queues a call of `module`'s exported `function` (`name`, or
        `ns:pkg/iface#name`) with `params`, each a JSON value mapped to its parameter's type
        (numbers, strings, lists, dicts for records, ...). The ended job's `result` is
        what it returned. Returns its id; a parameter that does not fit is an `ApiError`
        (400) naming it."""
        spec = {"module": module, "call": function, "params": list(params)}
        spec.update({key: value for key, value in fields.items() if value is not None})
        return self._call("POST", "/v1/jobs", spec)["id"]

    def call(self, module: str, function: str, *params: Any, timeout: Optional[float] = None,
             **fields: Any) -> Any:
        """Calls `module`'s `function` with `params`, waits, and returns what it returned;
        raises `JobFailed` when it trapped or returned an `err` result."""
        job = self.wait(self.submit_call(module, function, params, **fields), timeout)
        if job["state"] != "succeeded":
            raise JobFailed(job)
        return job.get("result")

    def exports(self, module: str) -> Dict[str, Any]:
        """What `module` exports: `command` (whether it runs as a command) and `functions`,
        each with its `params` and `results` types."""
        return self._call("GET", f"/v1/modules/{_quote(module)}/exports")

    def submit_batch(self, jobs: Sequence[Mapping[str, Any]]) -> List[int]:
        """Queues job specs (dicts as `POST /v1/jobs` takes them), in batches of up to
        1,000, each all or nothing. Returns their ids, in order."""
        ids: List[int] = []
        for start in range(0, len(jobs), BATCH):
            answer = self._call("POST", "/v1/jobs/batch", {"jobs": list(jobs[start:start + BATCH])})
            ids.extend(job["id"] for job in answer["jobs"])
        return ids

    def job(self, job_id: int) -> Dict[str, Any]:
        """The job, with its output once it ended."""
        return self._call("GET", f"/v1/jobs/{job_id}")

    def wait(self, job_id: int, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The job once it ended, or as it stands when `timeout` seconds passed (None: no
        limit). One request per minute at most while it waits."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = MAX_WAIT_MS if deadline is None else int((deadline - time.monotonic()) * 1000)
            wait_ms = max(0, min(left, MAX_WAIT_MS))
            job = self._call("GET", f"/v1/jobs/{job_id}/wait?timeout_ms={wait_ms}",
                             timeout=wait_ms / 1000 + self.timeout)
            if job["state"] in ENDED or (deadline is not None and time.monotonic() >= deadline):
                return job

    def wait_any(self, job_ids: Sequence[int], timeout: Optional[float] = None
                 ) -> Dict[str, Any]:
        """One wait on many jobs (up to 10,000 ids): answers as soon as one of them has
        ended, or after `timeout` seconds (None: the service's longest wait, a minute by
        default). Returns `ended` (the ended jobs, each with `id`, `state`, `exit_code`,
        `stdout`, `stderr`, `error`, `result`...), `left_off` (ended ones left out to bound
        the answer's size: ask again) and `pending` (how many had not ended)."""
        wait_ms = MAX_WAIT_MS if timeout is None else max(0, int(timeout * 1000))
        return self._call("POST", "/v1/jobs/wait", {"ids": list(job_ids), "timeout_ms": wait_ms},
                          timeout=min(wait_ms, MAX_WAIT_MS) / 1000 + self.timeout)

    def wait_all(self, job_ids: Iterable[int]) -> Iterator[Dict[str, Any]]:
        """Each of the jobs once it ended, in the order they end (as `wait_any` answers
        them, up to 10,000 waited on at once, oldest first)."""
        left = sorted(set(job_ids))
        while left:
            window = left[:WAIT_IDS]
            ended = self.wait_any(window)["ended"]
            done = {job["id"] for job in ended}
            left = [job_id for job_id in left if job_id not in done]
            yield from ended

    def jobs(self, **filters: Any) -> List[Dict[str, Any]]:
        """One page of jobs, newest first, as summaries (`state=`, `module=`, `limit=`, ...:
        the list's filters). Read a job's output with `job` or `wait`, never from the list."""
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        answer = self._call("GET", f"/v1/jobs?{query}")
        return answer["jobs"] if isinstance(answer, dict) else answer

    def cancel(self, job_id: int) -> Dict[str, Any]:
        """Cancels a queued or running job; `ApiError` 409 if it had already ended."""
        return self._call("POST", f"/v1/jobs/{job_id}/cancel")

    def retry(self, job_id: int) -> Dict[str, Any]:
        """Queues an ended, unsuccessful job again as a new attempt."""
        return self._call("POST", f"/v1/jobs/{job_id}/retry")

    def follow(self, job_id: int, stream: str = "both") -> Iterator[str]:
        """The job's output as lines of text while it runs, until it ends."""
        path = f"{self._prefix}/v1/jobs/{job_id}/output?stream={stream}&follow=true"
        # A connection of its own, held as long as the job may run (a job may be silent
        # for long).
        connection = self._connect(86_400.0)
        try:
            try:
                connection.request("GET", path, headers=self._headers(None))
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as error:
                raise urllib.error.URLError(error) from error
            if response.status >= 400:
                raise _api_error(response.status, response.reason, response.read())
            for line in response:
                yield line.decode("utf-8", "replace")
        finally:
            connection.close()

    # -- queues --------------------------------------------------------------------------

    def queue_put(self, name: str, item: bytes) -> int:
        """Appends `item` to the queue `name`; returns the queue's length."""
        _, answer = self._exchange("POST", f"/v1/queues/{_quote(name)}", item,
                                   "application/octet-stream")
        return json.loads(answer)["length"]

    def queue_get(self, name: str, timeout: float = 0.0) -> Optional[bytes]:
        """Takes the oldest item of `name`, waiting up to `timeout` seconds; None if none."""
        deadline = time.monotonic() + timeout
        while True:
            wait_ms = max(0, min(int((deadline - time.monotonic()) * 1000), MAX_WAIT_MS))
            path = f"/v1/queues/{_quote(name)}/get?timeout_ms={wait_ms}"
            status, item = self._exchange("POST", path, timeout=wait_ms / 1000 + self.timeout)
            if status == 200:
                return item
            if time.monotonic() >= deadline:
                return None

    def queues(self) -> List[Dict[str, Any]]:
        """Every non-empty queue: `name`, `length`, `oldest_age_ms`."""
        return self._call("GET", "/v1/queues")


def _spec(module: str, args: Iterable[Any], fields: Mapping[str, Any]) -> Dict[str, Any]:
    spec: Dict[str, Any] = {"module": module, "args": [str(arg) for arg in args]}
    spec.update({key: value for key, value in fields.items() if value is not None})
    return spec


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _api_error(status: int, reason: str, body: bytes) -> ApiError:
    try:
        error = json.loads(body)["error"]
        return ApiError(status, error["code"], error["message"])
    except (ValueError, KeyError, TypeError):
        return ApiError(status, "http", reason)

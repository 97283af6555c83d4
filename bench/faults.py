#!/usr/bin/env python3
"""Faults under a steady load: does wasmpool lose or strand anything?

Starts `wasmpool serve` on a fresh data directory (on a small tmpfs when run as root, so the
disk can be filled), keeps submitting short jobs from a thread, and meanwhile:

  - SIGKILLs a random worker process every couple of seconds,
  - SIGKILLs the host once and starts it again on the same data directory,
  - fills the data directory's disk for a few seconds (root only), then frees it,
  - holds an exclusive lock on the SQLite database for a few seconds,

then stops the load, waits (bounded) for every accepted job to end, and reports the jobs
accepted, ended, lost (accepted, then gone: must be 0) and stuck (not ended in time: must be
0), with the answers the clients got by status, and lists jobs that write their whole output
cap as the dashboard and the bulk confirmation list them (the answer's bytes and the host's
peak memory must stay small). Talks only to 127.0.0.1; stops by itself. With `--postgres URL`
(a database URL whose server it may create databases on) it then runs issue 26's cases on two
hosts sharing a fresh database, each a pass or a fail:

  - the dropped listener: host A follows a job running on host B; A's listening connection
    goes silent (a proxy drops what the server sends it) before the job ends: A's follower
    must still end,
  - the stale heartbeat: A's heartbeat is held on its node's row while the pool is paused;
    once it goes through, A must still be paused,
  - the long cron: an 8 KB cron expression must be refused (400),
  - NUL on PostgreSQL: `%00` in filters, names in paths, `\\u0000` in bodies must get 400.

Exit status: 0 when nothing was lost or stuck (and every case passed), 1 otherwise.

    bench/faults [--seconds 30] [--workers 2] [--postgres postgres://postgres@127.0.0.1/postgres]
"""

import argparse
import collections
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUESTS = os.path.join(ROOT, "guest", "target", "wasm32-wasip1", "release")


def request(url, method="GET", body=None, content_type="application/json", timeout=15):
    """One HTTP call: (status, parsed JSON or None). Connection failures are status 0."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, None
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0, None


class Host:
    """A `wasmpool serve` process on a fixed port."""

    def __init__(self, binary, data, port, workers):
        self.binary, self.data, self.port, self.workers = binary, data, port, workers
        self.url = f"http://127.0.0.1:{port}"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--data", self.data, "--drain-timeout", "5s"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.process.stdout.readline().decode()
        if "listening on" not in line:
            raise SystemExit(f"serve did not start: {line!r}")

    def kill(self):
        self.process.kill()
        self.process.wait()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def worker_pids(self):
        status, pool = request(self.url + "/v1/pool")
        if status != 200:
            return []
        return [w["pid"] for w in pool["workers"] if w["pid"]]


def load(host, stop, accepted, answers):
    """Submits batches of short jobs until `stop`, recording accepted ids and statuses."""
    while not stop.is_set():
        jobs = [{"module": "sleeper", "args": [f"0.0{random.randint(0, 5)}"], "max_attempts": 5}
                for _ in range(20)]
        status, body = request(host.url + "/v1/jobs/batch", "POST", {"jobs": jobs})
        answers[status] += 1
        if status == 202:
            accepted.extend(job["id"] for job in body["jobs"])
        time.sleep(0.05)


def fill_disk(path):
    """Writes a ballast file until the disk is full; returns its path."""
    ballast = os.path.join(path, "ballast")
    chunk = b"\0" * (1 << 16)
    with open(ballast, "wb") as file:
        try:
            while True:
                file.write(chunk)
                file.flush()
        except OSError:
            pass
    return ballast


def lock_database(path, seconds):
    """Holds SQLite's write lock on the database for `seconds`."""
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    time.sleep(seconds)
    connection.execute("ROLLBACK")
    connection.close()


def mount_tmpfs(path, size):
    """A small tmpfs at `path` when root (so the disk can be filled); False otherwise."""
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=700", "tmpfs", path],
                          stderr=subprocess.DEVNULL).returncode == 0


def memory(pid):
    """The process's resident and peak resident memory in bytes (VmRSS, VmHWM)."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def big_output_listing(host, jobs=20, flood=2 << 20):
    """Jobs at the output cap, listed three pages at once, three times: the answers' largest
    size, and how far the host's peak memory rose over its resident size before."""
    status, _ = request(host.url + "/v1/modules?name=probe", "POST",
                        open(os.path.join(GUESTS, "probe.wasm"), "rb").read(), "application/wasm")
    if status not in (200, 201):
        raise SystemExit(f"uploading the probe failed: {status}")
    batch = [{"module": "probe", "args": ["flood", str(flood)], "name": "flood"}] * jobs
    status, body = request(host.url + "/v1/jobs/batch", "POST", {"jobs": batch})
    if status != 202:
        raise SystemExit(f"submitting the floods failed: {status} {body}")
    for job in body["jobs"]:
        request(f"{host.url}/v1/jobs/{job['id']}/wait?timeout_ms=30000", timeout=40)
    pid = host.process.pid
    before, _ = memory(pid)
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")  # VmHWM starts again from the resident size
    sizes = []

    def page(path):
        req = urllib.request.Request(host.url + path)
        with urllib.request.urlopen(req, timeout=60) as response:
            sizes.append(len(response.read()))

    for _ in range(3):
        readers = [threading.Thread(target=page, args=(path,)) for path in
                   ("/v1/jobs?limit=1000&name=flood", "/v1/jobs?limit=50&name=flood",
                    "/v1/jobs?limit=1000&state=succeeded&name=flood")]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
    _, peak = memory(pid)
    return {"jobs": jobs, "largest answer bytes": max(sizes),
            "host peak rise MiB": round((peak - before) / (1 << 20), 1)}


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url, sql):
    """One SQL command through psql; its bare output."""
    return subprocess.run(["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def with_database(url, database):
    """`url` naming `database` instead."""
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


class PgHost(Host):
    """A host of a cluster on PostgreSQL."""

    def __init__(self, binary, data, port, store, name, extra=()):
        super().__init__(binary, data, port, 1)
        self.store, self.name, self.extra = store, name, list(extra)

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--workers", "1",
             "--data", self.data, "--store", self.store, "--node", self.name, *self.extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if "listening on" not in self.process.stdout.readline().decode():
            raise SystemExit(f"serve {self.name} did not start")


def until(condition, seconds):
    """Polls `condition` until it holds (True) or `seconds` pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class DeafProxy:
    """A TCP proxy in front of PostgreSQL for one host: it forwards everything until `deaf`
    is set; from then on a connection that sent LISTEN gets nothing more from the server (its
    notifications are lost, yet it stays open, as over a network path that died silently)."""

    def __init__(self, url):
        import socket
        before, _, rest = url.partition("@")
        server, _, database = rest.partition("/")
        host, _, port = server.partition(":")
        self.upstream = (host or "127.0.0.1", int(port or 5432))
        self.deaf = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"{before}@127.0.0.1:{self.listener.getsockname()[1]}/{database}"
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import socket
        while True:
            client, _ = self.listener.accept()
            upstream = socket.create_connection(self.upstream)
            listening = threading.Event()
            threading.Thread(target=self.pipe, args=(client, upstream, listening, True),
                             daemon=True).start()
            threading.Thread(target=self.pipe, args=(upstream, client, listening, False),
                             daemon=True).start()

    def pipe(self, source, sink, listening, up):
        try:
            while data := source.recv(65536):
                if up and b"LISTEN" in data.upper():
                    listening.set()
                if up or not (self.deaf.is_set() and listening.is_set()):
                    sink.sendall(data)
        except OSError:
            pass


def dropped_listener(proxy, a, job_id):
    """A follows a job running on B; A's listening connection goes silent before the job
    ends: does A's follower still end?"""
    ended = threading.Event()

    def follow():
        try:
            with urllib.request.urlopen(f"{a.url}/v1/jobs/{job_id}/output?follow=true",
                                        timeout=120) as response:
                response.read()
            ended.set()
        except OSError:
            pass
    threading.Thread(target=follow, daemon=True).start()
    time.sleep(0.5)
    proxy.deaf.set()
    return ended.wait(20)


def stale_heartbeat(url, a):
    """Pauses while A's heartbeat waits for its node's row: is A still paused after?"""
    holder = subprocess.Popen(["psql", "-qAtX", url], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    holder.stdin.write(f"BEGIN; SELECT 1 FROM nodes WHERE name = '{a.name}' FOR UPDATE;\n")
    holder.stdin.flush()
    waiting = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
               "AND query LIKE '%UPDATE nodes SET heartbeat_at%' AND pid <> pg_backend_pid()")
    until(lambda: psql(url, waiting) == "1", 10)
    request(a.url + "/v1/pool/pause", "POST", {})
    _, job = request(a.url + "/v1/jobs", "POST", {"module": "hello"})
    holder.stdin.write("COMMIT;\n")
    holder.stdin.close()
    holder.wait(timeout=10)
    time.sleep(1)  # several heartbeats (every 100 ms): had the raced one unpaused, the job ran
    state = request(f"{a.url}/v1/jobs/{job['id']}")[1]["state"]
    paused = request(a.url + "/v1/pool")[1]["paused"]
    request(a.url + "/v1/pool/resume", "POST", {})
    return paused is True and state == "queued"


def round_two(binary, admin_url):
    """Issue 26's cases on two hosts on a fresh database: {case: passed}."""
    database = f"wasmpool_faults_{os.getpid()}"
    psql(admin_url, f'CREATE DATABASE "{database}"')
    url = with_database(admin_url, database)
    base = tempfile.mkdtemp(prefix="wasmpool-faults-pg-")
    fast = ["--heartbeat", "100ms", "--lease", "10s"]
    proxy = DeafProxy(url)
    a = PgHost(binary, os.path.join(base, "a"), free_port(), proxy.url, "a", fast)
    b = PgHost(binary, os.path.join(base, "b"), free_port(), url, "b", fast)
    b.start()
    results = {}
    try:
        for name in ("hello", "sleeper"):
            request(f"{b.url}/v1/modules?name={name}", "POST",
                    open(os.path.join(GUESTS, name + ".wasm"), "rb").read(), "application/wasm")
        # The job runs on b: a starts once it has.
        _, job = request(b.url + "/v1/jobs", "POST", {"module": "sleeper", "args": ["4"]})
        until(lambda: request(f"{b.url}/v1/jobs/{job['id']}")[1]["state"] == "running", 30)
        a.start()
        results["dropped listener: the follower ends"] = dropped_listener(proxy, a, job["id"])
        results["stale heartbeat: the pause holds"] = stale_heartbeat(url, a)
        minutes = ",".join(str(m) for m in range(60))
        cron = ",".join([minutes] * 50) + " * * * *"
        status, _ = request(a.url + "/v1/schedules", "POST",
                            {"name": "long", "cron": cron, "job": {"module": "hello"}})
        results["long cron: 400"] = status == 400
        nul = [request(a.url + path)[0] for path in
               ("/v1/jobs?name=%00", "/v1/jobs?q=%00", "/v1/jobs?node=%00",
                "/v1/jobs?name=%ff%fe", "/v1/modules/a%00", "/v1/schedules/a%00")]
        nul.append(request(a.url + "/v1/jobs", "POST", b'{"module":"a\\u0000"}')[0])
        nul.append(request(a.url + "/v1/jobs/cancel", "POST", b'{"name":"\\u0000"}')[0])
        results["NUL on PostgreSQL: 400"] = all(status == 400 for status in nul)
    finally:
        a.stop()
        b.stop()
        psql(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "wasmpool"))
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", metavar="URL",
                        help="also run issue 26's cases on two hosts on a fresh database there")
    args = parser.parse_args()

    base = tempfile.mkdtemp(prefix="wasmpool-faults-")
    on_tmpfs = mount_tmpfs(base, "256m")
    data = os.path.join(base, "data")
    host = Host(args.binary, data, free_port(), args.workers)
    host.start()
    status, _ = request(host.url + "/v1/modules?name=sleeper", "POST",
                        open(os.path.join(GUESTS, "sleeper.wasm"), "rb").read(), "application/wasm")
    if status not in (200, 201):
        raise SystemExit(f"uploading the sleeper failed: {status}")

    stop, accepted, answers = threading.Event(), [], collections.Counter()
    loader = threading.Thread(target=load, args=(host, stop, accepted, answers))
    loader.start()
    faults = collections.Counter()
    started = time.monotonic()
    plan = {"host": args.seconds * 0.3, "disk": args.seconds * 0.5, "lock": args.seconds * 0.7}
    done = set()
    while time.monotonic() - started < args.seconds:
        elapsed = time.monotonic() - started
        pids = host.worker_pids()
        if pids:
            try:
                os.kill(random.choice(pids), signal.SIGKILL)
                faults["worker killed"] += 1
            except ProcessLookupError:
                pass
        if elapsed > plan["host"] and "host" not in done:
            done.add("host")
            host.kill()
            host.start()
            faults["host killed and restarted"] += 1
        if elapsed > plan["disk"] and "disk" not in done and on_tmpfs:
            done.add("disk")
            ballast = fill_disk(base)
            time.sleep(3)
            os.remove(ballast)
            faults["disk filled for 3 s"] += 1
        if elapsed > plan["lock"] and "lock" not in done:
            done.add("lock")
            lock_database(os.path.join(data, "wasmpool.db"), 3)
            faults["database locked for 3 s"] += 1
        time.sleep(2)
    stop.set()
    loader.join()

    # Every accepted job must end; give them a bounded time.
    deadline = time.monotonic() + 120
    ended, lost, stuck = 0, [], []
    pending = list(accepted)
    while pending and time.monotonic() < deadline:
        still = []
        for job_id in pending:
            status, job = request(f"{host.url}/v1/jobs/{job_id}")
            if status == 404:
                lost.append(job_id)
            elif status == 200 and job["state"] not in ("queued", "running"):
                ended += 1
            else:
                still.append(job_id)
        pending = still
        if pending:
            time.sleep(0.5)
    stuck = pending
    listing = big_output_listing(host)
    host.stop()
    if on_tmpfs:
        subprocess.run(["umount", "-l", base], stderr=subprocess.DEVNULL)

    report = {
        "seconds": args.seconds, "workers": args.workers, "disk fault": on_tmpfs,
        "faults": dict(faults), "answers by status": {str(k): v for k, v in sorted(answers.items())},
        "accepted": len(accepted), "ended": ended, "lost": len(lost), "stuck": len(stuck),
        "big-output listing": listing,
    }
    passed = True
    if args.postgres:
        report["postgres cases"] = round_two(args.binary, args.postgres)
        passed = all(report["postgres cases"].values())
    print(json.dumps(report, indent=2))
    listing_ok = (listing["largest answer bytes"] <= 1200 * listing["jobs"]
                  and listing["host peak rise MiB"] < 64)
    return 0 if not lost and not stuck and passed and listing_ok else 1


if __name__ == "__main__":
    sys.exit(main())

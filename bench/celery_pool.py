#!/usr/bin/env python3
"""The Celery side of wasmpool's benchmark: W1, W2 and W3 on Celery with a Redis broker and
result backend, the same counts as python_pool.py.

Usage: WASMPOOL_BENCH_REDIS=redis://127.0.0.1:PORT/0 python celery_pool.py W1|W2|W3 [--quick]

Run with the interpreter of the virtual environment the harness makes (celery, redis). It
starts its own worker (`celery worker --pool prefork --concurrency 2`, on a queue named for
this process, so nothing else's tasks mix in), waits until a warm-up task comes back, runs
the workload, stops the worker, and prints one JSON object on stdout and nothing else.
Every wait is bounded. Percentiles as in bench/src/stats.rs.

  W1  10,000 noop.apply_async(), then the results joined    {"jobs_per_s": ...}
  W2  noop.apply_async().get() 500 times, 20 warm-up        {"p50_us": ..., "p99_us": ...}
  W3  200 fib.apply_async((25,)), joined                    {"jobs_per_s": ...}
"""

import json
import os
import signal
import subprocess
import sys
import time

from celery import Celery
from celery.result import ResultSet

QUICK_DIVISOR = 20
GET_TIMEOUT_S = 300
QUEUE = os.environ.get("WASMPOOL_BENCH_CELERY_QUEUE", f"wasmpool-bench-{os.getpid()}")
REDIS = os.environ.get("WASMPOOL_BENCH_REDIS", "redis://127.0.0.1:6379/0")

app = Celery("celery_pool", broker=REDIS, backend=REDIS)
app.conf.update(
    task_default_queue=QUEUE,
    result_expires=600,
    worker_prefetch_multiplier=4,
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
)


@app.task
def noop():
    return None


def fib_(n):
    return n if n < 2 else fib_(n - 1) + fib_(n - 2)


@app.task
def fib(n):
    return fib_(n)


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, len(sorted_values) * p // 100)]


def throughput(task, args, jobs, check=None):
    started = time.perf_counter()
    pending = [task.apply_async(args) for _ in range(jobs)]
    results = ResultSet(pending).join_native(timeout=GET_TIMEOUT_S)
    elapsed = time.perf_counter() - started
    if check is not None and any(r != check for r in results):
        raise SystemExit(f"wrong results: expected {check}")
    return {"workers": 2, "jobs": jobs, "jobs_per_s": jobs / elapsed}


def w1(scale):
    return throughput(noop, (), 10_000 // scale)


def w2(scale):
    rounds, warmup = 500 // scale, 20 // scale
    times = []
    for i in range(warmup + rounds):
        started = time.perf_counter_ns()
        noop.apply_async().get(timeout=GET_TIMEOUT_S)
        elapsed = time.perf_counter_ns() - started
        if i >= warmup:
            times.append(elapsed / 1000)
    times.sort()
    return {"workers": 2, "rounds": rounds, "p50_us": percentile(times, 50),
            "p99_us": percentile(times, 99)}


def w3(scale):
    return throughput(fib, (25,), 200 // scale, check=75025)


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3}


def start_worker():
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, WASMPOOL_BENCH_CELERY_QUEUE=QUEUE, WASMPOOL_BENCH_REDIS=REDIS)
    command = [sys.executable, "-m", "celery", "-A", "celery_pool", "worker", "--pool",
               "prefork", "--concurrency", "2", "-Q", QUEUE, "--without-gossip",
               "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"]
    # Its own session, so stopping it stops its pool processes too.
    # Its banner on stdout is dropped (stdout is this script's answer); warnings still show.
    return subprocess.Popen(command, cwd=here, env=env, stdout=subprocess.DEVNULL,
                            start_new_session=True)


def stop_worker(worker):
    try:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.wait()


def main(argv):
    quick = "--quick" in argv
    names = [a for a in argv if a != "--quick"]
    if len(names) != 1 or names[0] not in WORKLOADS:
        print(__doc__, file=sys.stderr)
        return 2
    worker = start_worker()
    try:
        # Ready when a task comes back (bounded), as wasmpool's workers are before its clock.
        noop.apply_async().get(timeout=60)
        answer = WORKLOADS[names[0]](QUICK_DIVISOR if quick else 1)
    finally:
        stop_worker(worker)
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""The Python side of wasmpool's benchmark: the same workloads on multiprocessing.Pool.

Usage: python3 bench/python_pool.py W1|W2|W3|W4|W7|W8|W8c|W9 [--quick]

Prints one JSON object on stdout and nothing else. Standard library only. --quick divides
every count by 20 (W4 keeps its five tasks), as the harness's --quick does; the counts used
are part of the answer so the harness can check both sides ran the same work. Percentiles use the harness's definition
(bench/src/stats.rs): the sample at index min(n - 1, n * p // 100) of the sorted samples.

  W1  10,000 apply_async of a no-op on Pool(2), then get all    {"jobs_per_s": ...}
  W2  apply_async(no-op).get() 500 times on Pool(2), 20 warm-up {"p50_us": ..., "p99_us": ...}
  W3  200 naive fib(25) on Pool(2)                              {"jobs_per_s": ...}
  W4  the seed's long_time_task x5 on Pool(4)                   {"wall_s": ..., "fifth_waited": ...}
  W7  W1 again: the seeds' loop, against `wasmpool map -w 2`    {"jobs_per_s": ...}
  W8  2,000 apply_async of a no-op on Pool(2): a Python task's   {"jobs_per_s": ...}
      job against Python's own
  W8c Pool(2).map(no-op, range(100,000)): the client's map's     {"jobs_per_s": ...}
      counterpart
  W9  Pool(2).map(noop, range(10,000)), then Pool(2).map(fib,    {"jobs_per_s": ...,
      [25] * 200): plain functions against Python's own         "fib_jobs_per_s": ...}
"""

import json
import multiprocessing
import os
import random
import sys
import time

QUICK_DIVISOR = 20
# Every wait is bounded: a stuck pool fails the run instead of hanging it.
GET_TIMEOUT_S = 300


def noop():
    return None


def noop_of(_item):
    return None


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def long_time_task(name):
    # The seed's task; it returns its times instead of printing them (stdout is the answer).
    start = time.time()
    time.sleep(random.random() * 3)
    end = time.time()
    return {"name": name, "pid": os.getpid(), "start": start, "end": end}


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, len(sorted_values) * p // 100)]


def pool(workers):
    # fork, explicitly: the children start from this process without re-importing it.
    return multiprocessing.get_context("fork").Pool(workers)


def throughput(function, args, jobs, workers, check=None):
    with pool(workers) as p:
        started = time.perf_counter()
        pending = [p.apply_async(function, args) for _ in range(jobs)]
        results = [r.get(GET_TIMEOUT_S) for r in pending]
        elapsed = time.perf_counter() - started
    if check is not None and any(r != check for r in results):
        raise SystemExit(f"wrong results: expected {check}")
    return {"workers": workers, "jobs": jobs, "jobs_per_s": jobs / elapsed}


def w1(scale):
    return throughput(noop, (), 10_000 // scale, 2)


def w2(scale):
    rounds, warmup = 500 // scale, 20 // scale
    times = []
    with pool(2) as p:
        for i in range(warmup + rounds):
            started = time.perf_counter_ns()
            p.apply_async(noop).get(GET_TIMEOUT_S)
            elapsed = time.perf_counter_ns() - started
            if i >= warmup:
                times.append(elapsed / 1000)
    times.sort()
    return {
        "workers": 2,
        "rounds": rounds,
        "p50_us": percentile(times, 50),
        "p99_us": percentile(times, 99),
    }


def w3(scale):
    return throughput(fib, (25,), 200 // scale, 2, check=75025)


def w4(_scale):
    with pool(4) as p:
        started = time.perf_counter()
        pending = [p.apply_async(long_time_task, (i,)) for i in range(5)]
        spans = [r.get(GET_TIMEOUT_S) for r in pending]
        wall = time.perf_counter() - started
    spans.sort(key=lambda s: s["start"])
    fifth, first_four = spans[-1], spans[:-1]
    return {
        "workers": 4,
        "jobs": 5,
        "wall_s": wall,
        "fifth_waited": fifth["start"] >= min(s["end"] for s in first_four),
    }


def w8(scale):
    return throughput(noop_of, (0,), 2_000 // scale, 2)


def w8c(scale):
    jobs = 100_000 // scale
    with pool(2) as p:
        started = time.perf_counter()
        results = p.map(noop_of, range(jobs))
        elapsed = time.perf_counter() - started
    if len(results) != jobs:
        raise SystemExit(f"{len(results)} results for {jobs} items")
    return {"workers": 2, "jobs": jobs, "jobs_per_s": jobs / elapsed}


def w9(scale):
    jobs, heavy = 10_000 // scale, 200 // scale
    with pool(2) as p:
        started = time.perf_counter()
        p.map(noop_of, range(jobs))
        elapsed = time.perf_counter() - started
        fib_started = time.perf_counter()
        results = p.map(fib, [25] * heavy)
        fib_elapsed = time.perf_counter() - fib_started
    if any(r != 75025 for r in results):
        raise SystemExit("wrong fib results")
    return {"workers": 2, "jobs": jobs, "jobs_per_s": jobs / elapsed, "fib_jobs": heavy,
            "fib_jobs_per_s": heavy / fib_elapsed}


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W7": w1, "W8": w8, "W8c": w8c, "W9": w9}


def main(argv):
    if len(argv) not in (1, 2) or argv[0] not in WORKLOADS or argv[1:] not in ([], ["--quick"]):
        print(__doc__, file=sys.stderr)
        return 2
    scale = QUICK_DIVISOR if argv[1:] == ["--quick"] else 1
    print(json.dumps(WORKLOADS[argv[0]](scale)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

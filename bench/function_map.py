#!/usr/bin/env python3
"""W9's wasmpool side: plain Python functions through the client's `Pool.map`, each call in a
sandbox of its own (the shared runner component, built and uploaded before the clock starts).

Usage: python3 bench/function_map.py SERVER N_TRIVIAL N_FIB

Prints {"jobs": N_TRIVIAL, "jobs_per_s": ..., "fib_jobs": N_FIB, "fib_jobs_per_s": ...}:
`Pool.map(noop, range(N_TRIVIAL))` and `Pool.map(fib, [25] * N_FIB)`, each timed from the
call to its last result, like `python_pool.py W9` times `multiprocessing.Pool.map`.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients",
                                "python", "src"))

from wasmpool import Pool  # noqa: E402


def noop(_item):
    return None


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def timed(pool, function, items):
    started = time.perf_counter()
    results = pool.map(function, items)
    elapsed = time.perf_counter() - started
    if len(results) != len(items):
        raise SystemExit(f"{len(results)} results for {len(items)} items")
    return len(items) / elapsed, results


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    server, trivial, heavy = argv[0], int(argv[1]), int(argv[2])
    with Pool(server=server) as pool:
        pool.apply(noop, (0,))  # builds (once) and uploads the runner, compiles it: untimed
        rate, _ = timed(pool, noop, list(range(trivial)))
        fib_rate, results = timed(pool, fib, [25] * heavy)
    if any(r != 75025 for r in results):
        raise SystemExit("wrong fib results")
    print(json.dumps({"jobs": trivial, "jobs_per_s": rate,
                      "fib_jobs": heavy, "fib_jobs_per_s": fib_rate}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

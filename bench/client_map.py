#!/usr/bin/env python3
"""W8c's wasmpool side: the Python client's `Pool.map` over N items of a no-op module.

Usage: python3 bench/client_map.py SERVER MODULE N

Maps MODULE (a name the service knows) over range(N) with `wasmpool.Pool` (the package in
clients/python, imported from the source tree) and prints {"jobs": N, "jobs_per_s": ...},
timed from the call to its last result, like `python_pool.py W8c` times `Pool.map`.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients",
                                "python", "src"))

from wasmpool import Pool  # noqa: E402


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    server, module, jobs = argv[0], argv[1], int(argv[2])
    with Pool(server=server) as pool:
        started = time.perf_counter()
        results = pool.map(module, range(jobs))
        elapsed = time.perf_counter() - started
    if len(results) != jobs:
        raise SystemExit(f"{len(results)} results for {jobs} items")
    print(json.dumps({"jobs": jobs, "jobs_per_s": jobs / elapsed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The seeds' `long_time_task`, as a wasmpool task: `wasmpool map -w 4 --job-env
long_time_task.wasm 0 1 2 3 4` is their `Pool(4)` demo (five tasks, four workers, the fifth
waits for a free one).

Prints `Run task N (PID)...`, sleeps a random time in [0, 3) seconds, then prints how long it
ran. Inside the sandbox `os.getpid()` is always 42 (WASI has no processes), so the pid shown is
the worker process's, from `WASMPOOL_WORKER_PID` (set with `--job-env`). The environment
variable `LONG_TIME_TASK_MAX_MS` shortens the sleep's upper bound.
"""

import os
import random
import sys
import time

from wit_world import exports


def long_time_task(name):
    pid = os.environ.get("WASMPOOL_WORKER_PID", os.getpid())
    print("Run task %s (%s)..." % (name, pid), flush=True)
    start = time.time()
    most = int(os.environ.get("LONG_TIME_TASK_MAX_MS", "3000")) / 1000
    time.sleep(random.random() * most)
    end = time.time()
    print("Task %s runs %0.2f seconds." % (name, (end - start)))


class Run(exports.Run):
    """`wasi:cli/run`: the command's entry point; the job's arguments are `sys.argv[1:]`."""

    def run(self) -> None:
        long_time_task(sys.argv[1] if len(sys.argv) > 1 else "0")

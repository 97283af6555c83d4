"""The seeds' distributed `task_worker.py`, as a task: takes numbers off the queue `tasks`,
squares each, and puts `n * n = r` on the queue `results`, until no task comes for a while.

The seed connects to the master's `BaseManager` over the network and reads its queues. Here
the queues are the service's own, shared by every host on one PostgreSQL, so the same job
works wherever it runs; it has no network of its own. Build it and start a few workers on any
host:

    wasmpool build task_worker.py -o task_worker.wasm
    wasmpool upload task_worker.wasm --name task_worker
    wasmpool submit task_worker          # as many as you like, on any host of the cluster

Arguments (optional): the task and result queue names, and how long to wait for a task.
"""

import sys
import time

from taskqueue import Empty, Queue
from wit_world import exports


def work(tasks, results, patience):
    done = 0
    while True:
        try:
            n = int(tasks.get(timeout=patience))
        except Empty:
            break
        print("run task %d * %d..." % (n, n))
        time.sleep(0.1)
        results.put("%d * %d = %d" % (n, n, n * n))
        done += 1
    print("worker exit after %d tasks." % done)


class Run(exports.Run):
    def run(self) -> None:
        args = sys.argv[1:]
        tasks = args[0] if len(args) > 0 else "tasks"
        results = args[1] if len(args) > 1 else "results"
        patience = float(args[2]) if len(args) > 2 else 3.0
        work(Queue(tasks), Queue(results), patience)

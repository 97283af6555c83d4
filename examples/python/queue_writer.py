"""The seeds' queue writer: puts A, B and C on a queue (then END, which stops the reader),
pausing a random time in [0, 1) s after each, and reports its progress as it goes.

`wasmpool submit queue_writer.wasm letters` beside `wasmpool submit queue_reader.wasm letters`
is the seeds' `Process(target=write)` / `Process(target=read)` pair: two sandboxed jobs on a
`wasmpool serve`, talking through its named queue `letters` (default `q`).
"""

import os
import random
import sys
import time

from taskqueue import Queue
from wit_world import exports
from wit_world.imports import progress


def write(q):
    print("Process to write: %s" % os.environ.get("WASMPOOL_WORKER_PID", os.getpid()))
    for percent, value in zip((33, 66, 100), ["A", "B", "C"]):
        print("Put %s to queue..." % value, flush=True)
        q.put(value)
        progress.report(percent, "put %s" % value)
        time.sleep(random.random() * float(os.environ.get("QUEUE_WRITER_MAX_PAUSE", "1")))
    q.put("END")


class Run(exports.Run):
    def run(self) -> None:
        write(Queue(sys.argv[1] if len(sys.argv) > 1 else "q"))

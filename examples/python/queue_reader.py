"""The seeds' queue reader: takes items off a queue and prints each, until the writer's END.

The seed's reader loops forever and its parent terminates it; this one stops at END, or
fails (exit code 1) when no item comes within 30 s.
"""

import os
import sys

from taskqueue import Queue
from wit_world import exports


def read(q):
    print("Process to read: %s" % os.environ.get("WASMPOOL_WORKER_PID", os.getpid()))
    while True:
        value = q.get(timeout=30)
        if value == "END":
            break
        print("Get %s from queue." % value)


class Run(exports.Run):
    def run(self) -> None:
        read(Queue(sys.argv[1] if len(sys.argv) > 1 else "q"))

"""The seeds' distributed `task_master.py`, with the service's queues for the manager: puts
ten numbers on the queue `tasks`, then reads the ten answers off `results`.

The seed's master serves its queues on a port of its own (`BaseManager`) and the workers on
other machines connect to it. Here any host of a wasmpool cluster (hosts sharing one
PostgreSQL) holds the queues, the workers are jobs (`task_worker.py`, built into a task) that
any host may run, and this script is an ordinary Python program using the client
(`pip install ./clients/python`):

    python task_master.py http://host-a:8080

It exits 1 if an answer does not come within a minute.
"""

import random
import sys

from wasmpool import Queue


def main(server=None):
    tasks = Queue("tasks", server=server)
    results = Queue("results", server=server)
    for _ in range(10):
        n = random.randint(0, 10000)
        print("Put task %d..." % n)
        tasks.put(str(n))
    print("Try get results...")
    for _ in range(10):
        print("Result: %s" % results.get(timeout=60))
    print("master exit.")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)

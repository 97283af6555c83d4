"""A `multiprocessing.Queue`-like view of the service's named queues, for tasks: a module
beside the tasks that import it, which `wasmpool build` puts in their component.

Items are text (UTF-8 on the wire), so HTTP clients and the CLI (`wasmpool queue put/get`)
read and write the same items.
"""

from wit_world.imports import queue


class Empty(Exception):
    """`get` waited its timeout and no item came (as `queue.Empty`)."""


class Queue:
    """The service's queue `name`, shared by every job and client that names it."""

    def __init__(self, name):
        self.name = name

    def put(self, item):
        """Appends `item` (a str), waiting while the queue is full; raises if it cannot."""
        queue.put(self.name, item.encode())

    def get(self, timeout=30.0):
        """Takes the oldest item, waiting up to `timeout` seconds; raises `Empty` if none."""
        item = queue.get(self.name, int(timeout * 1000))
        if item is None:
            raise Empty(self.name)
        return item.decode()

    def qsize(self):
        """How many items the queue holds now."""
        return queue.len(self.name)

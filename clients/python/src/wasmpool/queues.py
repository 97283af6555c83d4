"""`Queue`: a named queue of the service, shaped like `multiprocessing.Queue`.

Items are bytes on the service; this queue puts `str` as UTF-8 and gives back `str` (or
`bytes` with `binary=True`), so tasks, the CLI and HTTP clients share the same items.
"""

from __future__ import annotations

import queue as _queue
from typing import Optional, Union

from .client import ApiError, Client


class Queue:
    """The service's queue `name`, shared by every job and client that names it."""

    def __init__(self, name: str, server: Optional[str] = None, token: Optional[str] = None,
                 *, client: Optional[Client] = None, binary: bool = False):
        self.name = name
        self.client = client or Client(server, token)
        self.binary = binary

    def put(self, item: Union[str, bytes], block: bool = True,
            timeout: Optional[float] = None) -> None:
        """Appends `item`; `queue.Full` if the queue stayed full for the service's put
        timeout. (`block` and `timeout` are accepted for compatibility; the service decides
        how long a put waits.)"""
        data = item if isinstance(item, bytes) else str(item).encode()
        try:
            self.client.queue_put(self.name, data)
        except ApiError as error:
            if error.code == "queue_full":
                raise _queue.Full(self.name) from error
            raise

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Union[str, bytes]:
        """Takes the oldest item, waiting up to `timeout` seconds (forever if None; not at
        all if `block` is false); `queue.Empty` if none came."""
        while True:
            wait = 0.0 if not block else (3600.0 if timeout is None else timeout)
            item = self.client.queue_get(self.name, wait)
            if item is not None:
                return item if self.binary else item.decode("utf-8", "replace")
            if not block or timeout is not None:
                raise _queue.Empty(self.name)

    def put_nowait(self, item: Union[str, bytes]) -> None:
        """`put` without waiting."""
        self.put(item, block=False)

    def get_nowait(self) -> Union[str, bytes]:
        """`get` without waiting."""
        return self.get(block=False)

    def qsize(self) -> int:
        """How many items the queue holds now."""
        for entry in self.client.queues():
            if entry["name"] == self.name:
                return int(entry["length"])
        return 0

    def empty(self) -> bool:
        """Whether the queue holds no item now."""
        return self.qsize() == 0

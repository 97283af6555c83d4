"""wasmpool's Python client: `Pool` and `Queue` shaped like `multiprocessing`'s, and
`Client` for the rest of the HTTP API of a running `wasmpool serve`."""

from .client import ApiError, Client, JobFailed
from .pool import AsyncResult, Pool
from .queues import Queue

__all__ = ["ApiError", "AsyncResult", "Client", "JobFailed", "Pool", "Queue"]
__version__ = "0.1.0"

"""The seeds' `Pool(4)` demo with its task a plain function: the seed's own code, with
`from wasmpool import Pool` for `from multiprocessing import Pool`. Each call of
`long_time_task` runs in a sandbox of its own on a `wasmpool serve` (WASMPOOL_SERVER, else
http://127.0.0.1:8080), started with `--workers 4`: the fifth task waits for a free worker.

    python examples/python/pool_functions.py

What the task prints goes to its job's stderr (`wasmpool logs ID`, the dashboard); what it
returns comes back here, to the callback. The `__main__` guard matters, as with
multiprocessing's spawn: the sandbox runs this file's top level to find the function.
"""

import os
import random
import time

from wasmpool import Pool


def long_time_task(name):
    print('Run task %s (%s)...' % (name, os.getpid()))
    start = time.time()
    time.sleep(random.random() * 3)
    end = time.time()
    return 'Task %s runs %0.2f seconds.' % (name, (end - start))


if __name__ == '__main__':
    print('Parent process %s.' % os.getpid())
    p = Pool(4)
    for i in range(5):
        p.apply_async(long_time_task, args=(i,), callback=print)
    print('Waiting for all subprocesses done...')
    p.close()
    p.join()
    print('All subprocesses done.')

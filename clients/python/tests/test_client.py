"""The client against a real service: Pool, Queue and Client as a Python programmer uses them.

Guests (uploaded by the `server` fixture): `fib N` prints `fib(N) = X`; `probe args A B...`
prints its command line, argv[0] first, one per line; `exit-code N` exits N; `sleeper S`
prints `sleeping S s`, sleeps S seconds and prints `slept`.
"""

import multiprocessing
import os
import queue
import threading
import uuid

import pytest

from wasmpool import ApiError, Client, JobFailed, Pool, Queue

FIB = {10: 55, 20: 6765, 25: 75025}


def test_map_returns_each_jobs_stdout_in_order(server):
    with Pool(server) as pool:
        assert pool.map("fib", [10, 20, 25]) == [f"fib({n}) = {FIB[n]}\n" for n in FIB]


def test_a_tuple_is_several_arguments_and_a_string_one(server):
    with Pool(server) as pool:
        many, one = pool.map("probe", [("args", "a b", 3), "args"])
    assert many.splitlines()[1:] == ["args", "a b", "3"]
    assert one.splitlines()[1:] == ["args"]
    with Pool(server) as pool:
        starred = pool.starmap("probe", [["args", "x"], ("args", "y", "z")])
    assert [text.splitlines()[1:] for text in starred] == [["args", "x"], ["args", "y", "z"]]


def test_apply_and_apply_async_with_callbacks(server):
    pool = Pool(server)
    assert pool.apply("fib", (10,)) == "fib(10) = 55\n"
    called, failed = [], []
    done = pool.apply_async("fib", (20,), callback=called.append)
    bad = pool.apply_async("exit-code", (3,), error_callback=failed.append)
    assert done.get(timeout=60) == "fib(20) = 6765\n"
    bad.wait(60)
    assert done.ready() and done.successful()
    assert bad.ready() and not bad.successful()
    pool.close()
    pool.join()
    assert called == ["fib(20) = 6765\n"]
    assert len(failed) == 1 and isinstance(failed[0], JobFailed)


def test_a_failed_job_raises_job_failed_with_its_details(server):
    with Pool(server) as pool:
        with pytest.raises(JobFailed) as raised:
            pool.map("exit-code", [0, 3])
    failure = raised.value
    assert failure.state == "failed"
    assert failure.exit_code == 3
    assert isinstance(failure.job_id, int) and failure.job["id"] == failure.job_id


def test_imap_keeps_order_and_imap_unordered_yields_as_jobs_end(server):
    with Pool(server) as pool:
        assert list(pool.imap("fib", [25, 10])) == ["fib(25) = 75025\n", "fib(10) = 55\n"]
        # The long sleeper was submitted first but ends last.
        ended = list(pool.imap_unordered("sleeper", ["2", "0"]))
    assert [text.splitlines()[0] for text in ended] == ["sleeping 0 s", "sleeping 2 s"]
    with Pool(server) as pool:
        items = [("args", str(i)) for i in range(20)]
        seen = sorted(text.splitlines()[-1] for text in pool.imap_unordered("probe", items))
    assert seen == sorted(str(i) for i in range(20))


def test_get_times_out_while_the_job_runs_and_terminate_cancels_it(server, client):
    pool = Pool(server)
    slow = pool.apply_async("sleeper", ("60",))
    with pytest.raises(multiprocessing.TimeoutError):
        slow.get(timeout=0.2)
    assert not slow.ready()
    with pytest.raises(ValueError):
        slow.successful()
    pool.terminate()
    with pytest.raises(JobFailed) as raised:
        slow.get(timeout=30)
    assert raised.value.state == "cancelled"
    assert client.job(slow.job_id)["state"] == "cancelled"
    with pytest.raises(ValueError):
        pool.apply_async("fib", (10,))


def test_join_needs_close_first(server):
    pool = Pool(server)
    with pytest.raises(ValueError):
        pool.join()
    pool.close()
    with pytest.raises(ValueError):
        pool.map("fib", [10])
    pool.join()


def test_a_pool_uploads_a_wasm_path_once(server, client):
    path = dict(pair.split("=", 1) for pair in os.environ["WASMPOOL_TEST_GUESTS"].split(":"))["fib"]
    with Pool(server) as pool:
        assert pool.map(path, [10, 10]) == ["fib(10) = 55\n"] * 2


def test_a_queue_between_two_clients(server):
    name = "q-" + uuid.uuid4().hex[:8]
    writer, reader = Queue(name, server), Queue(name, server)
    assert reader.qsize() == 0 and reader.empty()
    for value in ["A", "B", "C"]:
        writer.put(value)
    assert reader.qsize() == 3
    assert [reader.get(timeout=5) for _ in range(3)] == ["A", "B", "C"]
    with pytest.raises(queue.Empty):
        reader.get(timeout=0.2)
    with pytest.raises(queue.Empty):
        reader.get_nowait()
    # A get that waits is answered by a put that comes later.
    threading.Timer(0.3, writer.put, args=(b"late",)).start()
    assert Queue(name, server, binary=True).get(timeout=10) == b"late"


def test_client_submit_wait_list_follow_cancel_retry(server, client):
    job_id = client.submit("fib", [20])
    job = client.wait(job_id, timeout=60)
    assert (job["state"], job["stdout"]) == ("succeeded", "fib(20) = 6765\n")
    assert job_id in [entry["id"] for entry in client.jobs(module="fib", limit=100)]
    lines = list(client.follow(client.submit("probe", ["args", "one", "two"])))
    assert lines[1:] == ["args\n", "one\n", "two\n"]
    slow = client.submit("sleeper", ["60"])
    assert client.cancel(slow)["state"] == "cancelled"
    with pytest.raises(ApiError) as raised:
        client.cancel(slow)
    assert raised.value.status == 409
    client.retry(slow)
    assert client.job(slow)["state"] in ("queued", "running")
    client.cancel(slow)
    ids = client.submit_batch([{"module": "fib", "args": [str(n)]} for n in (10, 20)])
    assert [client.wait(i)["stdout"] for i in ids] == ["fib(10) = 55\n", "fib(20) = 6765\n"]


def test_an_unknown_module_is_an_api_error(server):
    with pytest.raises(ApiError) as raised:
        Client(server).submit("no-such-module")
    assert raised.value.status == 404


def test_a_python_task_built_by_wasmpool_build(server):
    """`examples/python/lookup.py`, the seeds' subprocess example: stdin in, stdout out."""
    if "lookup" not in dict(p.split("=", 1) for p in os.environ["WASMPOOL_TEST_GUESTS"].split(":")):
        pytest.skip("no lookup guest given (the cargo test suite gives it)")
    with Pool(server) as pool:
        assert pool.map("lookup", ["python.org", "www.python.org"]) == [
            "python.org\taddress = 151.101.192.223\n",
            "www.python.org\tcanonical name = dualstack.python.map.fastly.net.\n"
            "Name:\tdualstack.python.map.fastly.net\nAddress: 151.101.72.223\n",
        ]
        with pytest.raises(JobFailed) as raised:
            pool.apply("lookup", ("nope.example",))
    assert raised.value.exit_code == 1
    client = Client(server)
    job = client.wait(client.submit("lookup", [], stdin="set q=mx\npython.org\nexit\n"))
    assert job["stdout"] == "python.org\tmail exchanger = 50 mail.python.org.\n"

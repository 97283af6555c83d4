"""Waiting on many jobs at once (`POST /v1/jobs/wait`), and what it saves: a `map` over many
items takes a few requests to collect, all over one kept-alive connection per thread."""

import collections
import time

import pytest

from wasmpool import ApiError, Client, JobFailed, Pool


class CountingClient(Client):
    """A client that counts its requests by route and the connections it opens."""

    def __init__(self, server):
        super().__init__(server)
        self.requests = collections.Counter()
        self.connections = 0

    def _exchange(self, method, path, *args, **kwargs):
        self.requests[f"{method} {path.split('?')[0]}"] += 1
        return super()._exchange(method, path, *args, **kwargs)

    def _connect(self, timeout):
        self.connections += 1
        return super()._connect(timeout)


def test_wait_any_answers_the_ended_jobs_and_the_count_still_running(client):
    quick = client.submit_batch([{"module": "fib", "args": ["10"]},
                                 {"module": "exit-code", "args": ["3"]}])
    slow = client.submit("sleeper", ["30"])
    ends = {job["id"]: job for job in client.wait_all(quick)}
    assert ends[quick[0]]["state"] == "succeeded"
    assert ends[quick[0]]["stdout"] == "fib(10) = 55\n"
    assert (ends[quick[1]]["state"], ends[quick[1]]["exit_code"]) == ("failed", 3)
    started = time.monotonic()
    answer = client.wait_any(quick + [slow], timeout=0.2)
    assert sorted(job["id"] for job in answer["ended"]) == sorted(quick)
    assert answer["pending"] == 1
    answer = client.wait_any([slow], timeout=0.2)
    assert time.monotonic() - started >= 0.2
    assert (answer["ended"], answer["pending"]) == ([], 1)
    client.cancel(slow)


def test_wait_any_refuses_unknown_ids_and_bad_lists(client):
    with pytest.raises(ApiError) as raised:
        client.wait_any([999_999_999])
    assert raised.value.status == 404 and "999999999" in raised.value.message
    with pytest.raises(ApiError) as raised:
        client.wait_any([])
    assert raised.value.status == 400


def test_a_map_over_many_items_collects_with_few_requests_on_few_connections(server):
    client = CountingClient(server)
    items = list(range(2000))
    with Pool(client=client) as pool:
        results = pool.map("probe", [("args", str(i)) for i in items])
    assert [text.splitlines()[-1] for text in results] == [str(i) for i in items]
    assert client.requests["POST /v1/jobs/batch"] == 2
    waits = client.requests["POST /v1/jobs/wait"]
    assert 1 <= waits < len(items) / 10, client.requests
    assert not any(route.endswith("/wait") and route.startswith("GET") for route in client.requests)
    # One connection for the submitting thread, one per collector thread at most.
    assert client.connections <= 1 + 8, client.connections


def test_results_come_through_the_bulk_wait_with_failures_and_callbacks(server):
    called, failed = [], []
    with Pool(server) as pool:
        good = [pool.apply_async("fib", (n,), callback=called.append) for n in (10, 20)]
        bad = pool.apply_async("exit-code", (4,), error_callback=failed.append)
        assert [result.get(timeout=60) for result in good] == ["fib(10) = 55\n", "fib(20) = 6765\n"]
        with pytest.raises(JobFailed) as raised:
            bad.get(timeout=60)
        pool.close()
        pool.join()
    assert raised.value.exit_code == 4 and raised.value.state == "failed"
    assert sorted(called) == ["fib(10) = 55\n", "fib(20) = 6765\n"]
    assert len(failed) == 1 and failed[0].job_id == bad.job_id


def test_a_quick_job_submitted_after_a_slow_one_is_not_held_behind_it(server):
    with Pool(server) as pool:
        slow = pool.apply_async("sleeper", ("30",))
        started = time.monotonic()
        assert pool.apply("fib", (10,)) == "fib(10) = 55\n"
        assert time.monotonic() - started < 20
        assert not slow.ready()

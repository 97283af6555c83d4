"""Calls from Python: a task `"MODULE#FUNCTION"` calls an exported function with typed
parameters, and the result is the decoded value.

Guest (uploaded by the `server` fixture as `mathlib`): the `calls` component
(`guest/calls/wit/calls.wit`): `square(n: s32) -> s32`, `add(a: u64, b: u64) -> u64`,
`sum(items: list<s16>) -> s64`, `move-point(p: point, dx: s32) -> point`,
`divide(a: s32, b: s32) -> result<s32, string>`, `crash(code: u32)` (traps when non-zero), and
`wasmpool-test:calls/shapes#area(s: shape) -> f64`.
"""

import pytest

from wasmpool import ApiError, Client, JobFailed, Pool


def test_map_calls_a_function_and_returns_decoded_values(server):
    with Pool(server) as pool:
        assert pool.map("mathlib#square", [1, 2, 3, 12]) == [1, 4, 9, 144]
        # A tuple is several parameters; a list one list parameter; a dict one record.
        assert pool.starmap("mathlib#add", [(1, 2), (40, 2)]) == [3, 42]
        assert pool.map("mathlib#sum", [[1, 2, 3], []]) == [6, 0]
        assert pool.apply("mathlib#move-point", ({"x": 1, "y": 2}, 5)) == \
            {"x": 6, "y": 2, "label": None}
        assert pool.apply("mathlib#wasmpool-test:calls/shapes#area",
                          ({"rectangle": [2.0, 4.0]},)) == 8.0
        assert pool.apply_async("mathlib#divide", (9, 3)).get(timeout=60) == {"ok": 3}
        assert list(pool.imap("mathlib#square", range(5))) == [0, 1, 4, 9, 16]


def test_an_err_result_or_a_trap_raises_job_failed(server):
    with Pool(server) as pool:
        with pytest.raises(JobFailed) as raised:
            pool.apply("mathlib#divide", (1, 0))
        assert raised.value.error == "returned err: cannot divide 1 by zero"
        assert raised.value.result == {"err": "cannot divide 1 by zero"}
        with pytest.raises(JobFailed) as raised:
            pool.apply("mathlib#crash", (1,))
        assert raised.value.error.startswith("trapped")


def test_a_parameter_that_does_not_fit_is_refused_at_submission(server):
    with Pool(server) as pool:
        with pytest.raises(ApiError) as raised:
            pool.map("mathlib#square", ["seven"])
    assert raised.value.status == 400
    assert "parameter `n` of `square`: expected s32" in raised.value.message


def test_the_client_submits_calls_and_reads_exports(client: Client):
    assert client.call("mathlib", "square", 9) == 81
    job_id = client.submit_call("mathlib", "add", [2, 3], name="sum")
    job = client.wait(job_id)
    assert (job["call"], job["params"], job["result"]) == ("add", [2, 3], 5)
    exports = client.exports("mathlib")
    assert exports["command"] is False
    assert exports["functions"]["square"]["params"] == [{"name": "n", "of": {"type": "s32"}}]
    with pytest.raises(ApiError) as raised:
        client.submit_call("mathlib", "cube", [2])
    assert "exports no function `cube`" in raised.value.message

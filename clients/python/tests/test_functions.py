"""Plain Python functions as tasks: `Pool().map(f, xs)` with `f` an ordinary function (of
`functions_tasks.py`, or a closure or lambda here), each call run by the shared runner
component in a sandbox of its own.

The runner is built once per test run by `wasmpool build` (the binary in `WASMPOOL_BIN`,
componentize-py from `WASMPOOL_COMPONENTIZE_PY`) into the cache `XDG_CACHE_HOME` names,
which the cargo test suite keeps between runs.
"""

import json
import os
import textwrap

import pytest
from functions_tasks import (add, chatty, count_words, decrement, divide, look_around,
                             make_scaler, offset_by, spin, square, stdlib_tour, uses_shapes,
                             write_note)

from wasmpool import ApiError, Client, JobFailed, Pool
from wasmpool.functions import FunctionRefused

LIMIT = 300  # seconds: the first call waits for the runner's upload and compile


def test_map_of_a_plain_function_runs_each_call_in_the_sandbox(server):
    with Pool(server) as pool:
        assert pool.map(square, range(6)) == [0, 1, 4, 9, 16, 25]
        assert pool.apply(add, (2, 3)) == 5
        assert pool.apply_async(add, (4,)).get(LIMIT) == 4
        assert pool.starmap(add, [(1, 2), [3, 4]]) == [3, 7]
        assert list(pool.imap(square, [7, 8])) == [49, 64]
        assert sorted(pool.imap_unordered(square, [2, 3])) == [4, 9]


def test_calls_show_by_the_functions_name_and_carry_json(server):
    client = Client(server)
    with Pool(server) as pool:
        result = pool.apply_async(chatty, (5,))
        assert result.get(LIMIT) == [5, [5, 5]]  # a tuple arrives as a list
        job = client.job(result.job_id)
    assert job["name"] == "chatty"
    assert "working on 5" in job["stderr"]  # what f prints goes to stderr
    assert json.loads(job["stdout"]) == {"result": [5, [5, 5]]}
    with Pool(server) as pool:
        assert pool.apply(stdlib_tour, ("the quick brown fox",)) == {
            "words": 4, "mean": 4.0, "sha": "9ecb3656", "pi": 3.142}


def test_an_exception_raises_job_failed_with_the_remote_traceback(server):
    with Pool(server) as pool:
        with pytest.raises(JobFailed) as caught:
            pool.apply(divide, (1, 0))
    failed = caught.value
    assert failed.state == "failed" and failed.remote_type == "ZeroDivisionError"
    assert "return a / b" in failed.remote_traceback  # the task's own line
    assert 'functions_tasks.py", line' in failed.remote_traceback
    assert "ZeroDivisionError: division by zero" in str(failed)


def test_closures_and_lambdas_go_with_their_values(server):
    with Pool(server) as pool:
        assert pool.map(make_scaler(3), [1, 2]) == [3, 6]
        assert pool.map(decrement, [10]) == [9]
        assert pool.map(offset_by(100), [1]) == [101]


def test_a_module_the_sandbox_lacks_says_so(server):
    # This module imports pytest, which the runner does not have: a lambda of it cannot run.
    with Pool(server) as pool:
        with pytest.raises(JobFailed) as caught:
            pool.apply(lambda: 1)
    assert caught.value.remote_type == "ModuleNotFoundError"
    assert "Pool(packages=" in str(caught.value)


def test_what_cannot_be_sent_is_refused_before_anything_is_submitted(server):
    client = Client(server)
    before = len(client.jobs(limit=1000))
    thing = object()
    made = {}
    exec("def made_by_exec(x):\n    return x\n", made)  # no file holds its source
    with Pool(server) as pool:
        for task, item, says in [
            (len, "abc", "not a Python function"),
            (lambda x: thing, 1, "closes over `thing`"),
            (square, object(), "not JSON values"),
            (made["made_by_exec"], 1, "cannot be found"),
        ]:
            with pytest.raises(FunctionRefused, match=says):
                pool.map(task, [item])
    assert len(client.jobs(limit=1000)) == before


def test_the_sandbox_holds_around_a_call(server):
    with Pool(server) as pool:
        seen = pool.apply(look_around, (0,))
        assert seen["env"] == {}
        assert seen["/etc/passwd"] in ("FileNotFoundError", "PermissionError", "OSError")
        assert seen["net"] != "connected"
    with Pool(server, env={"GREETING": "hi"}) as pool:
        assert pool.apply(look_around, (0,))["env"] == {"GREETING": "hi"}
    with Pool(server, timeout_ms=3000) as pool:
        with pytest.raises(JobFailed) as caught:
            pool.apply(spin, (0,))
    assert caught.value.state == "timed_out"


def test_a_call_sees_a_directory_only_where_its_pool_mounts_one(server, mount_dir):
    with open(os.path.join(mount_dir, "words.txt"), "w") as file:
        file.write("one two three")
    with Pool(server, mounts=[{"name": "files", "path": "/data"}]) as pool:
        assert pool.apply(count_words, ("/data/words.txt",)) == 3
        assert pool.apply(write_note, ("/data/note.txt", "hi")) == ["note.txt", "words.txt"]
    with open(os.path.join(mount_dir, "note.txt")) as file:
        assert file.read() == "hi"
    # Read-only: as the service declares `files-ro`, or as the job asks for `files`.
    for mount in ({"name": "files-ro", "path": "/in"},
                  {"name": "files", "path": "/in", "read_only": True}):
        with Pool(server, mounts=[mount]) as pool:
            assert pool.apply(count_words, ("/in/words.txt",)) == 3
            with pytest.raises(JobFailed) as caught:
                pool.apply(write_note, ("/in/sneaky.txt", "no"))
            assert caught.value.remote_type in ("PermissionError", "OSError")
    assert not os.path.exists(os.path.join(mount_dir, "sneaky.txt"))
    with Pool(server) as pool:  # nothing mounted: nothing there
        with pytest.raises(JobFailed) as caught:
            pool.apply(count_words, ("/data/words.txt",))
        assert caught.value.remote_type in ("FileNotFoundError", "OSError")
    with Pool(server, mounts=[{"name": "elsewhere", "path": "/data"}]) as pool:
        with pytest.raises(ApiError) as refused:
            pool.apply(count_words, ("/data/words.txt",))
    assert refused.value.code == "unknown_mount" and "files, files-ro" in str(refused.value)


def test_pure_python_packages_can_be_bundled_and_native_ones_are_refused(server, tmp_path):
    native = tmp_path / "fastthing"
    native.mkdir()
    (native / "__init__.py").write_text("")
    (native / "_speedups.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    with pytest.raises(FunctionRefused, match="native extensions"):
        Pool(server, packages=[str(native)])
    package = tmp_path / "shapes"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent("""
        def area(w, h):
            return w * h
    """))
    with Pool(server, packages=[str(package)]) as pool:
        assert pool.apply(uses_shapes, (3, 4)) == 12

"""Fixtures: a real `wasmpool serve` on port 0 (the binary in `WASMPOOL_BIN`, which the cargo
test suite sets to the one it built), with the guests it names in `WASMPOOL_TEST_GUESTS`
(`NAME=PATH` pairs separated by `:`) uploaded under their names. It declares two mounts over
the directory `mount_dir` names: `files` (read-write) and `files-ro` (read-only for every
job)."""

import os
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from wasmpool import Client  # noqa: E402


def guests():
    pairs = os.environ.get("WASMPOOL_TEST_GUESTS", "")
    return dict(pair.split("=", 1) for pair in pairs.split(":") if pair)


@pytest.fixture(scope="session")
def mount_dir():
    """The host directory the service's `files` and `files-ro` mounts grant."""
    with tempfile.TemporaryDirectory() as files:
        yield files


@pytest.fixture(scope="session")
def server(mount_dir):
    binary = os.environ.get("WASMPOOL_BIN")
    if not binary:
        pytest.fail("WASMPOOL_BIN must name the wasmpool binary (the cargo test suite sets it)")
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items()
               if k not in ("WASMPOOL_TOKEN", "WASMPOOL_LOG_FORMAT")}
        env["RUST_LOG"] = "warn"  # its warnings only, on this process's stderr
        process = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--workers", "2", "--data", data,
             "--mount", f"files={mount_dir}", "--mount", f"files-ro={mount_dir}:ro"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True)
        try:
            line = process.stdout.readline().strip()
            prefix = "wasmpool listening on "
            assert line.startswith(prefix), f"unexpected first line {line!r}"
            url = line[len(prefix):]
            client = Client(url)
            for name, path in guests().items():
                client.upload(path, name=name)
            yield url
        finally:
            process.kill()
            process.wait()


@pytest.fixture
def client(server):
    return Client(server)

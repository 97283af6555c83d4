"""W8's task: a Python command that does nothing, built into a component by `wasmpool build`
(CPython and its standard library, pre-initialised), so the benchmark measures what a
Python task's job costs around the task's own work."""

from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        pass

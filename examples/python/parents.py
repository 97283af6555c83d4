"""A workflow step in Python: prints each parent it runs after (`after`), one per line, as
`NAME STATE OUTPUT`, OUTPUT being a call's result (JSON) or a command's stdout, read through
the `wasmpool:task/workflow` import (`parents()`, in id order)."""

from wit_world import exports
from wit_world.imports import workflow


class Run(exports.Run):
    def run(self) -> None:
        for parent in workflow.parents():
            if parent.result is not None:
                output = parent.result
            else:
                output = bytes(parent.stdout).decode("utf-8", "replace").strip()
            print(parent.name or parent.id, parent.state, output)

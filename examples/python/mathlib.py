"""A Python task of typed functions to call, not a command: `pool.apply_async(square, (7,))`
in wasmpool's form. Built against its own world (`mathlib/world.wit`):

    wasmpool build --wit examples/python/mathlib --world example:mathlib/mathlib \
        examples/python/mathlib.py -o mathlib.wasm
    wasmpool upload --name mathlib mathlib.wasm
    wasmpool call mathlib 'square(7)'            # 49

and from Python, `Pool().map("mathlib#square", [1, 2, 3]) == [1, 4, 9]`.
"""

from typing import List, Optional

import wit_world


class WitWorld(wit_world.WitWorld):
    def square(self, n: int) -> int:
        return n * n

    def greet(self, name: str) -> str:
        return f"hello, {name}, from Python"

    def mean(self, values: List[float]) -> Optional[float]:
        return sum(values) / len(values) if values else None

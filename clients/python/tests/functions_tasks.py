"""Plain functions for `test_functions.py` to run in the sandbox. The runner runs this whole
module afresh for each call, so it imports only the standard library (the test module
imports pytest, which the sandbox lacks), as a real program's task module would."""

import math
import os


def square(x):
    return x * x


def add(a, b=0):
    return a + b


def divide(a, b):
    return a / b


def stdlib_tour(text):
    import hashlib
    import re
    import statistics
    words = re.findall(r"\w+", text)
    return {"words": len(words), "mean": statistics.mean(len(w) for w in words),
            "sha": hashlib.sha256(text.encode()).hexdigest()[:8], "pi": round(math.pi, 3)}


def chatty(x):
    print("working on", x)
    return [x, (x, x)]


def look_around(_):
    seen = {"env": dict(os.environ)}
    for path in ("/etc/passwd", "/", "."):
        try:
            seen[path] = sorted(os.listdir(path)) if path != "/etc/passwd" else open(path).read()
        except OSError as error:
            seen[path] = type(error).__name__
    try:
        import socket
        socket.create_connection(("127.0.0.1", 80), timeout=1)
        seen["net"] = "connected"
    except Exception as error:  # noqa: BLE001 (any refusal will do)
        seen["net"] = type(error).__name__
    return seen


def spin(_):
    while True:
        pass


def make_scaler(k):
    def scale(x):
        return x * k
    return scale


decrement = lambda x: x - 1  # noqa: E731 (a lambda is what this shows)


def offset_by(offset):
    return lambda x: x + offset


def uses_shapes(w, h):
    import shapes
    return shapes.area(w, h)


def count_words(path):
    with open(path) as file:
        return len(file.read().split())


def write_note(path, text):
    with open(path, "w") as file:
        file.write(text)
    return sorted(os.listdir(os.path.dirname(path)))

"""The seeds' `subprocess` example, from the child's side: the seed feeds `nslookup` commands
on its stdin (`p.communicate(b'set q=mx\npython.org\nexit\n')`) and reads its output and exit
code. A job has no network, so this `lookup` answers from a table of its own; it reads the
same commands from stdin, prints its answers on stdout, and exits 0, or 1 when a name was not
found (a component's exit code is 0 or 1: stable WASI says only success or failure).

    printf 'set q=mx\npython.org\nexit\n' | wasmpool run lookup.wasm
"""

import sys

from wit_world import exports

RECORDS = {
    ("a", "python.org"): ["python.org\taddress = 151.101.192.223"],
    ("mx", "python.org"): ["python.org\tmail exchanger = 50 mail.python.org."],
    ("a", "www.python.org"): [
        "www.python.org\tcanonical name = dualstack.python.map.fastly.net.",
        "Name:\tdualstack.python.map.fastly.net",
        "Address: 151.101.72.223",
    ],
}


def lookup(lines):
    """Answers each command line; returns how many names were not found."""
    kind, missing = "a", 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if line == "exit":
            break
        if line.startswith("set q="):
            kind = line[len("set q="):].lower()
            continue
        answers = RECORDS.get((kind, line.lower()))
        if answers is None:
            print("** server can't find %s: NXDOMAIN" % line)
            missing += 1
        else:
            print("\n".join(answers))
    return missing


class Run(exports.Run):
    def run(self) -> None:
        names = sys.argv[1:] or sys.stdin
        if lookup(names):
            sys.exit(1)

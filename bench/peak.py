"""Run a Python program and write its own peak resident memory (VmHWM, KiB) to a file when it exits.

    python bench/peak.py OUT -m bot -c config.toml once
    python bench/peak.py OUT path/to/script args…

`wait4`'s ru_maxrss cannot tell this: a child started from a large process (the benchmark harness)
starts with the parent's address space until it executes, and the kernel keeps that peak."""

import atexit
import runpy
import sys


def _report(out: str) -> None:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                with open(out, "w") as f:
                    f.write(line.split()[1])


def main() -> None:
    out, rest = sys.argv[1], sys.argv[2:]
    atexit.register(_report, out)
    if rest[0] == "-m":
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = rest
        runpy.run_path(rest[0], run_name="__main__")


if __name__ == "__main__":
    main()

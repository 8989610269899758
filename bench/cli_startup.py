"""How fast the CLI starts: `release-bot --help` and `release-bot query '!release stable'`, and what
`once` pays in imports before its first fetch.

    .venv/bin/python bench/cli_startup.py [--runs 20] [--importtime]

Byte-compiles bot/ first (an installed wheel is compiled; a PYTHONDONTWRITEBYTECODE checkout is not),
builds a state with the offline demo, then runs each command as a new process `--runs` times and
prints min / median / max wall time (as hyperfine would). Target: ≤ 0.15 s each on an idle machine.
"once's imports" is a process that imports what `once` imports with the demo's config (console and
mbox outputs) before it polls: the config loaded, `bot.app` and the verbs. With --importtime it also
prints the slowest imports of each command (`python -X importtime`). The load average is printed:
figures taken at a load above the core count are not comparable with idle ones.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(argv: list[str], runs: int) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
        out.append(time.perf_counter() - started)
    return out


def slowest_imports(argv: list[str], count: int = 12) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *argv[1:]], capture_output=True, text=True, check=True
    )
    rows = []
    for line in result.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    return [f"{us / 1000:7.1f} ms {name}" for us, name in sorted(rows, reverse=True)[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "bot", quiet=1)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="release-bot-bench-") as folder:
        subprocess.run(
            [sys.executable, "-m", "bot", "demo", "--keep", folder], check=True, stdout=subprocess.DEVNULL
        )
        config = str(Path(folder) / "config.toml")
        commands = {
            "release-bot --help": [sys.executable, "-m", "bot", "--help"],
            "release-bot query '!release stable'": [
                sys.executable,
                "-m",
                "bot",
                "-c",
                config,
                "query",
                "!release stable",
            ],
            "once's imports (config, bot.app)": [
                sys.executable,
                "-c",
                f"import bot.cli.verbs as v, bot.app; v.load_config({config!r})",
            ],
            "python -c pass (the floor)": [sys.executable, "-c", "pass"],
        }
        for name, argv in commands.items():
            times = timed(argv, args.runs)
            print(
                f"{name:40} min {min(times):.3f} s  median {statistics.median(times):.3f} s  "
                f"max {max(times):.3f} s  ({args.runs} runs)"
            )
            if args.importtime and argv[-1] != "pass":
                for row in slowest_imports(argv):
                    print(f"    {row}")


if __name__ == "__main__":
    main()

"""release-bot side by side with rss2email (issue 11): the same N generated feeds, the same loopback
feed server and SMTP sink, medians of interleaved runs, and a check that both tools delivered exactly
the expected number of mails.

    .venv/bin/python bench/compare.py --feeds 200 --runs 3      (make bench-compare)
    .venv/bin/python bench/compare.py --feeds 1000               (make bench-compare N=1000)

rss2email comes from the package registry into a separate bench environment (`make bench-venv`:
.bench-venv/bin/r2e); it is no dependency of the bot. `--no-rss2email` runs release-bot's side only.

Steps, each in a fresh state per run and tool: first run (a silent baseline: rss2email `run
--no-send`, release-bot `once` with announce_on_first_run = 0), all unchanged (every feed answers 304),
10 % changed (one new entry in every tenth feed), every entry new (50 new entries in every feed: the
mail burst). Then release-bot's poll cycle inside one running `Bot` (what `run` does every interval,
without a process start; in a process of its own, apart from the servers), with a ticker task
measuring the longest event-loop stall.
Figures are wall time; they are printed, never asserted (machines are noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loopback import CountingSink, FeedServer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_R2E = ROOT / ".bench-venv" / "bin" / "r2e"
ENTRIES = 50


@dataclass
class Proc:
    wall: float
    cpu: float
    maxrss_kib: int
    mails: int
    duplicates: int
    rc: int
    err: str


@dataclass
class Step:
    name: str
    label: str
    expected: Callable[[int], int]
    prepare: Callable[[FeedServer, str, int], None]


def _none(server: FeedServer, ns: str, n: int) -> None:
    return None


def _tenth(n: int) -> list[int]:
    return list(range(0, n, 10))


STEPS = [
    Step("first", "first run (baseline, nothing sent)", lambda n: 0, _none),
    Step("unchanged", "all unchanged (all 304)", lambda n: 0, _none),
    Step(
        "changed",
        "10 % changed (+1 entry each)",
        lambda n: len(_tenth(n)),
        lambda server, ns, n: server.bump(ns, _tenth(n), 1),
    ),
    Step(
        "burst",
        "every entry new (mail burst)",
        lambda n: n * ENTRIES,
        lambda server, ns, n: server.bump(ns, range(n), ENTRIES),
    ),
]


def byte_compile_bot() -> None:
    """Write the bot's bytecode (`__pycache__`) before timing, as pip does when it installs the wheel
    (rss2email's is written when `make bench-venv` installs it): an editable checkout run with
    PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module of the bot on every start (~0.15 s)."""
    import compileall

    import bot

    compileall.compile_dir(str(Path(bot.__file__).parent), quiet=1)


def run_process(argv: list[str], sink: CountingSink, *, cwd: Path, prefix: list[str] | None = None) -> Proc:
    """Run one Python program (argv[0] the interpreter) to its end: wall time, its CPU time (wait4),
    its own peak RSS (bench/peak.py), mails received."""
    sink.take()
    peak_path = cwd / f".peak-{time.monotonic_ns()}"
    argv = [argv[0], str(Path(__file__).resolve().parent / "peak.py"), str(peak_path), *argv[1:]]
    argv = [*(prefix or []), *argv]
    err_path = cwd / f".stderr-{time.monotonic_ns()}"
    with open(err_path, "wb") as err_file:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, err_file.fileno(), 2),
        ]
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - start
    err = err_path.read_bytes()
    err_path.unlink()
    maxrss = usage.ru_maxrss  # the fallback: includes the harness's pages the child started with
    if peak_path.exists():
        maxrss = int(peak_path.read_text() or maxrss)
        peak_path.unlink()
    time.sleep(0.05)  # the sink's thread has counted the last DATA before the client's QUIT returned
    mails, dups = sink.take()
    return Proc(
        wall,
        usage.ru_utime + usage.ru_stime,
        maxrss,
        mails,
        dups,
        os.waitstatus_to_exitcode(status),
        _problem_lines(err.decode("utf-8", "replace")),
    )


def _problem_lines(err: str) -> str:
    """The lines of stderr that say what failed (a failed source's line may be far from the end), then
    its last lines."""
    bad = [line for line in err.splitlines() if any(w in line for w in ("FAILED", "rror", "Traceback"))]
    return "\n".join([*bad[:20], "…", *err[-1000:].splitlines()[-5:]]) if bad else err[-2000:]


# -- the two tools ----------------------------------------------------------------------------------


def bot_config(folder: Path, server: FeedServer, ns: str, n: int, smtp_port: int) -> Path:
    lines = [
        "[bot]",
        f'state = "{folder / "state.sqlite3"}"',
        'log_level = "warning"',
        "flood_limit = 0  # every entry its own mail, as rss2email sends it (no flood summary)",
        "",
    ]
    for i in range(n):
        lines += ["[[sources]]", f'name = "f{i}"', 'kind = "feed"', f'url = "{server.url(ns, i)}"', ""]
    lines += [
        "[[outputs]]",
        'name = "list"',
        'kind = "mail"',
        'host = "127.0.0.1"',
        f"port = {smtp_port}",
        'tls = "none"',
        'from = "bot@bench.invalid"',
        'to = "list@bench.invalid"',
    ]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def r2e_config(folder: Path, server: FeedServer, ns: str, n: int, smtp_port: int) -> Path:
    lines = [
        "[DEFAULT]",
        "to = list@bench.invalid",
        "from = r2e@bench.invalid",
        "email-protocol = smtp",
        f"smtp-server = 127.0.0.1:{smtp_port}",
        "smtp-auth = False",
        "smtp-ssl = False",
        "",
    ]
    for i in range(n):
        lines += [f"[feed.f{i}]", f"url = {server.url(ns, i)}", ""]
    path = folder / "rss2email.cfg"
    path.write_text("\n".join(lines))
    return path


class Tool:
    name = ""

    def __init__(self, folder: Path, server: FeedServer, ns: str, n: int, sink: CountingSink) -> None:
        self.folder = folder
        self.sink = sink
        folder.mkdir(parents=True)

    def step(self, name: str) -> Proc:
        raise NotImplementedError


class ReleaseBot(Tool):
    name = "release-bot"

    def __init__(self, folder: Path, server: FeedServer, ns: str, n: int, sink: CountingSink) -> None:
        super().__init__(folder, server, ns, n, sink)
        self.config = bot_config(folder, server, ns, n, sink.port)

    def step(self, name: str) -> Proc:
        argv = [sys.executable, "-m", "bot", "-c", str(self.config), "once"]
        spy = os.environ.get("BENCH_PYSPY", "")
        prefix: list[str] = []
        if spy:  # a sampling profile of each step (all threads), DIR/<step>-<ns>.txt; figures not comparable
            out = Path(spy) / f"{name}-{time.monotonic_ns()}.txt"
            pyspy = str(Path(sys.executable).parent / "py-spy")
            prefix = [pyspy, "record", "-r", "250", "--idle", "--threads", "-f", "raw", "-o", str(out), "--"]
        return run_process(argv, self.sink, cwd=self.folder, prefix=prefix)


class Rss2Email(Tool):
    name = "rss2email"

    def __init__(
        self, folder: Path, server: FeedServer, ns: str, n: int, sink: CountingSink, *, r2e: Path
    ) -> None:
        super().__init__(folder, server, ns, n, sink)
        self.r2e = r2e
        self.config = r2e_config(folder, server, ns, n, sink.port)

    def step(self, name: str) -> Proc:
        python = str(self.r2e.parent / "python")  # r2e is a Python script of the bench venv
        argv = [
            python,
            str(self.r2e),
            "-c",
            str(self.config),
            "-d",
            str(self.folder / "rss2email.json"),
            "run",
        ]
        if name == "first":
            argv.append("--no-send")
        return run_process(argv, self.sink, cwd=self.folder)


# -- release-bot's poll cycle inside a running Bot -------------------------------------------------


@dataclass
class InProcess:
    unchanged: list[float] = field(default_factory=list)
    changed: list[float] = field(default_factory=list)
    changed_mails: list[int] = field(default_factory=list)
    #: the process's CPU time per cycle (less disturbed by other work on the machine than wall time)
    unchanged_cpu: list[float] = field(default_factory=list)
    changed_cpu: list[float] = field(default_factory=list)
    expected_changed: int = 0
    stall: float = 0.0
    rss_kib: int = 0


async def _cycle(bot: Any, profile: str = "") -> float:
    """One poll-and-deliver cycle; with BENCH_PROFILE=DIR set, a cProfile of it is written to
    DIR/<profile>-<n>.prof (a look at where a cycle's time goes, not part of the figures)."""
    folder = os.environ.get("BENCH_PROFILE", "") if profile else ""
    profiler = cProfile.Profile() if folder else None
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    await bot.poll_and_deliver()  # polls with delivery overlapping them, as `run` does
    took = time.perf_counter() - start
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(os.path.join(folder, f"{profile}-{time.monotonic_ns()}.prof"))
    return took


async def _in_process(config: Path, n: int, runs: int, ask: Callable[[str], str]) -> InProcess:
    from bot.app import Bot
    from bot.config import load_config
    from bot.daemon import freeze_startup

    out = InProcess(expected_changed=len(_tenth(n)))
    stall = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal stall
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            stall = max(stall, now - last - 0.01)
            last = now

    bot = Bot(load_config(config))
    try:
        await _cycle(bot)  # warm: the first cycle of a process (imports, connections)
        freeze_startup()  # as `run` does once it has started
        ask("take")
        tick = asyncio.create_task(ticker())
        for _ in range(runs):
            cpu = time.process_time()
            out.unchanged.append(await _cycle(bot, "unchanged"))
            out.unchanged_cpu.append(time.process_time() - cpu)
            ask("bump")
            cpu = time.process_time()
            out.changed.append(await _cycle(bot, "changed"))
            out.changed_cpu.append(time.process_time() - cpu)
            await asyncio.sleep(0.05)
            out.changed_mails.append(int(ask("take")))
        stop.set()
        await tick
    finally:
        await bot.aclose()
    out.stall = stall
    out.rss_kib = _own_peak_kib()
    return out


def _own_peak_kib() -> int:
    """This process's own peak RSS (VmHWM, reset at exec). Not ru_maxrss: it keeps the peak of the
    harness's address space (its cache of generated feeds) the child started from before it executed."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def in_process_child(config: Path, n: int, runs: int) -> None:
    """The Bot in a process of its own (as `run` is), apart from the feed server and the SMTP sink
    (which would otherwise share its interpreter lock): asks the harness on stdout to bump feeds or
    count mails, reads the answer on stdin, prints its figures as JSON last."""

    def ask(what: str) -> str:
        print(what, flush=True)
        return sys.stdin.readline().strip()

    logging.basicConfig(level=logging.ERROR)
    out = asyncio.run(_in_process(config, n, runs, ask))
    print("result " + json.dumps(out.__dict__), flush=True)


def in_process(config: Path, server: FeedServer, ns: str, n: int, sink: CountingSink, runs: int) -> InProcess:
    argv = [sys.executable, __file__, "--in-process-child", str(config), "--feeds", str(n)]
    argv += ["--runs", str(runs)]
    spy = os.environ.get("BENCH_PYSPY", "")
    if spy:  # the child under py-spy, idle samples too (where the cycles wait)
        pyspy = str(Path(sys.executable).parent / "py-spy")
        out = str(Path(spy) / f"in-process-{time.monotonic_ns()}.txt")
        argv = [pyspy, "record", "-r", "250", "--idle", "--threads", "-f", "raw", "-o", out, "--", *argv]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdin is not None and child.stdout is not None
        result: InProcess | None = None
        for line in child.stdout:
            if line.startswith("result "):
                result = InProcess(**json.loads(line.removeprefix("result ")))
                continue  # read on to the end: py-spy prints its summary after the child ended
            if line.strip() == "bump":
                server.bump(ns, _tenth(n), 1)
                child.stdin.write("ok\n")
            elif line.strip() == "take":
                child.stdin.write(f"{sink.take()[0]}\n")
            child.stdin.flush()
    if result is not None:
        return result
    raise RuntimeError(f"the in-process child ended without figures (exit {child.returncode})")


# -- the table ----------------------------------------------------------------------------------------


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(seconds: float) -> str:
    if seconds != seconds:
        return "—"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def ratio(a: float, b: float) -> str:
    if a != a or b != b or b == 0:
        return "—"
    return f"{a / b:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=200, help="number of feeds N (default %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs (medians; default %(default)s)")
    parser.add_argument("--r2e", type=Path, default=DEFAULT_R2E, help="rss2email's r2e (default %(default)s)")
    parser.add_argument("--no-rss2email", action="store_true", help="release-bot's side only")
    parser.add_argument("--steps", default=",".join(s.name for s in STEPS), help="steps to run (comma list)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--in-process-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.in_process_child:
        in_process_child(args.in_process_child, args.feeds, args.runs)
        return 0
    if args.feeds < 1 or args.runs < 1:
        parser.error("--feeds and --runs must be at least 1")
    use_r2e = not args.no_rss2email
    if use_r2e and not args.r2e.exists():
        parser.error(f"{args.r2e}: no rss2email here; `make bench-venv` installs it (or --no-rss2email)")
    steps = [s for s in STEPS if s.name in args.steps.split(",")]
    byte_compile_bot()
    logging.basicConfig(level=logging.ERROR)
    n = args.feeds
    tmp = Path(tempfile.mkdtemp(prefix="release-bot-compare-"))
    results: dict[str, dict[str, list[Proc]]] = {s.name: {"release-bot": [], "rss2email": []} for s in steps}
    problems: list[str] = []
    inproc = InProcess()
    try:
        with FeedServer(n, entries=ENTRIES) as server, CountingSink() as sink:
            last_bot: tuple[Path, str] | None = None
            for run in range(args.runs):
                tools: list[Tool] = []
                bot_ns = f"bot{run}"
                server.namespace(bot_ns)
                bot = ReleaseBot(tmp / bot_ns, server, bot_ns, n, sink)
                tools.append(bot)
                if use_r2e:
                    r2e_ns = f"r2e{run}"
                    server.namespace(r2e_ns)
                    tools.append(Rss2Email(tmp / r2e_ns, server, r2e_ns, n, sink, r2e=args.r2e))
                if run % 2:
                    tools.reverse()  # interleaved: who goes first alternates
                for step in steps:
                    for tool in tools:
                        ns = bot_ns if isinstance(tool, ReleaseBot) else r2e_ns
                        step.prepare(server, ns, n)
                        proc = tool.step(step.name)
                        results[step.name][tool.name].append(proc)
                        want = step.expected(n)
                        print(
                            f"run {run + 1} {step.name:9} {tool.name:11} {fmt(proc.wall):>9}  "
                            f"cpu {proc.cpu:6.2f} s  rss {proc.maxrss_kib / 1024:5.0f} MiB  "
                            f"mails {proc.mails}/{want}",
                            flush=True,
                        )
                        if proc.rc != 0 and not (tool.name == "rss2email" and proc.mails == want):
                            problems.append(
                                f"{tool.name} {step.name} run {run + 1}: exit {proc.rc}: {proc.err}"
                            )
                        if proc.mails != want or proc.duplicates:
                            problems.append(
                                f"{tool.name} {step.name} run {run + 1}: {proc.mails} mails "
                                f"({proc.duplicates} duplicate Message-IDs), expected {want}"
                            )
                last_bot = (bot.config, bot_ns)
            if last_bot is not None and "first" in args.steps:
                inproc = in_process(last_bot[0], server, last_bot[1], n, sink, args.runs)
                for got in inproc.changed_mails:
                    if got != inproc.expected_changed:
                        problems.append(
                            f"in-process 10 % changed: {got} mails, expected {inproc.expected_changed}"
                        )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print_table(n, args.runs, steps, results, inproc, use_r2e)
    if args.json:
        args.json.write_text(json.dumps(figures(n, results, inproc), indent=2))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def figures(n: int, results: dict[str, dict[str, list[Proc]]], inproc: InProcess) -> dict[str, Any]:
    out: dict[str, Any] = {"feeds": n}
    for step, tools in results.items():
        out[step] = {name: [p.__dict__ for p in procs] for name, procs in tools.items()}
    out["in_process"] = inproc.__dict__
    return out


def print_table(
    n: int,
    runs: int,
    steps: list[Step],
    results: dict[str, dict[str, list[Proc]]],
    inproc: InProcess,
    use_r2e: bool,
) -> None:
    import platform

    print(
        f"\n{n} feeds × {ENTRIES} entries, medians of {runs} interleaved run(s); python "
        f"{platform.python_version()}, {os.cpu_count()} CPU(s)\n"
    )
    print(
        "| work | release-bot | rss2email | ratio | mails (bot / rss2email / expected) | bot CPU, peak RSS |"
    )
    print("|---|---|---|---|---|---|")
    for step in steps:
        bot = results[step.name]["release-bot"]
        r2e = results[step.name]["rss2email"]
        b, r = med([p.wall for p in bot]), med([p.wall for p in r2e]) if use_r2e else float("nan")
        mails = (
            f"{med([p.mails for p in bot]):.0f} / {med([p.mails for p in r2e]):.0f}"
            if use_r2e
            else (f"{med([p.mails for p in bot]):.0f} / —")
        )
        cpu = f"{med([p.cpu for p in bot]):.2f} s, {max(p.maxrss_kib for p in bot) / 1024:.0f} MiB"
        print(
            f"| {n} feeds, {step.label} | {fmt(b)} | {fmt(r)} | {ratio(b, r)} | "
            f"{mails} / {step.expected(n)} | {cpu} |"
        )
        if step.name == "burst":
            mails_n = step.expected(n)
            print(
                f"| per mail in the burst | {b / mails_n * 1000:.2f} ms | "
                f"{(r / mails_n * 1000) if r == r else float('nan'):.2f} ms | {ratio(b, r)} | | |"
            )
    if inproc.unchanged:
        for label, values, step_name in (
            ("all unchanged", inproc.unchanged, "unchanged"),
            ("10 % changed", inproc.changed, "changed"),
        ):
            procs = results.get(step_name, {}).get("rss2email", [])
            r = med([p.wall for p in procs]) if use_r2e else float("nan")
            print(
                f"| {n} feeds, {label}: poll cycle inside a running `Bot` | {fmt(med(values))} | {fmt(r)} "
                f"(process) | {ratio(med(values), r)} | "
                + (
                    f"{med(inproc.changed_mails):.0f} / — / {inproc.expected_changed}"
                    if step_name == "changed"
                    else ""
                )
                + " | |"
            )
        print(
            f"\nin-process: longest event-loop stall {inproc.stall * 1000:.0f} ms; "
            f"peak RSS {inproc.rss_kib / 1024:.0f} MiB (its own process: a Bot with {n} sources); "
            f"CPU per cycle {fmt(med(inproc.unchanged_cpu))} unchanged, "
            f"{fmt(med(inproc.changed_cpu))} changed"
        )


if __name__ == "__main__":
    sys.exit(main())

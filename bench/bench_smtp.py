"""Times the mail output's delivery path: N real Flatcar announcements queued in a fresh state file,
then one delivery pass to an aiosmtpd server on loopback (in a child process, so it does not share the
bot's interpreter lock). Per-message durability is kept: each mail is marked delivered in its own
SQLite transaction (WAL, synchronous=NORMAL: the default) before the next one is sent. Prints the wall
time and the bot's own CPU time per mail (on a shared machine the wall time also holds the waits for
the server and for a CPU); asserts nothing.

    .venv/bin/python bench/bench_smtp.py [--messages 540] [--repeat 3] [--tmp DIR]
    .venv/bin/python bench/bench_smtp.py --floor [--messages 1000] [--repeat 3]

`--floor` times the SMTP exchange alone, without the bot: the same 5 KB message N times over one
connection to bench/loopback.py's counting sink, from a child process, with smtplib (what rss2email
uses), aiosmtplib (the bot's transport) and a raw socket writing MAIL, RCPT and DATA in one go (RFC 2920
pipelining; the sink does not offer it, but aiosmtpd reads commands in order): interleaved, medians.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import parse_config  # noqa: E402
from bot.delivery import Deliverer  # noqa: E402
from bot.detect import detect  # noqa: E402
from bot.model import Snapshot  # noqa: E402
from bot.render import Renderer  # noqa: E402
from bot.sinks.mail import MailSink  # noqa: E402
from bot.sources.flatcar import parse_releases_json  # noqa: E402
from bot.store import PollRecord, Store  # noqa: E402


def _server(conn: Any) -> None:
    from tests.smtpserver import SMTPTestServer

    server = SMTPTestServer()
    server.start()
    conn.send(server.port)
    conn.recv()  # until told to stop
    conn.send((len(server.messages), server.connections))
    server.stop()


def events(limit: int) -> list[Any]:
    body = gzip.decompress((ROOT / "tests" / "data" / "releases-full.json.gz").read_bytes())
    document = parse_releases_json(
        body, source="flatcar", project="Flatcar", url="releases.json", doc_name="all"
    )
    detection = detect(Snapshot("flatcar", (document,)), {}, baselined_documents={"all"})
    return list(detection.events)[:limit]


def one_run(port: int, count: int, tmp: Path) -> tuple[float, float, int]:
    config = parse_config(
        {
            "bot": {"state": str(tmp / "state.sqlite3")},
            "sources": [{"name": "flatcar", "kind": "flatcar"}],
            "outputs": [
                {
                    "name": "list",
                    "kind": "mail",
                    "host": "127.0.0.1",
                    "port": port,
                    "tls": "none",
                    "from": "release-bot@example.org",
                    "to": "list@example.org",
                }
            ],
        },
        path=tmp / "config.toml",
    )
    sink = MailSink(config.outputs[0])  # type: ignore[arg-type]
    renderer = Renderer()
    queued = [(event, [sink.format(event, renderer)]) for event in events(count)]
    now = datetime.now(UTC)
    with Store(config.state) as store:
        store.commit_poll(PollRecord("flatcar", now=now, events=queued))
        deliverer = Deliverer(store, [sink], clock=lambda: datetime.now(UTC))

        async def deliver() -> tuple[float, float, int]:
            started, cpu = time.perf_counter(), time.process_time()
            result = await deliverer.deliver()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            await deliverer.close()
            return elapsed, cpu, result.delivered

        return asyncio.run(deliver())


FLOOR_CLIENT = r"""
import asyncio, smtplib, socket, sys, time
port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
head = "From: a@bench.invalid\r\nTo: l@bench.invalid\r\nSubject: x\r\nMessage-ID: <%d@bench.invalid>\r\n\r\n"
body = head + ("line of text " * 5 + "\r\n") * 70
start = time.perf_counter()
if mode == "smtplib":
    client = smtplib.SMTP("127.0.0.1", port)
    client.ehlo()
    for i in range(n):
        client.sendmail("a@bench.invalid", ["l@bench.invalid"], (body % i).encode())
    client.quit()
elif mode == "aiosmtplib":
    import aiosmtplib
    async def send() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        for i in range(n):
            await client.sendmail("a@bench.invalid", ["l@bench.invalid"], (body % i).encode())
        await client.quit()
    asyncio.run(send())
else:
    sock = socket.create_connection(("127.0.0.1", port))
    replies = sock.makefile("rb")
    def reply() -> bytes:
        while True:
            line = replies.readline()
            if line[3:4] != b"-":
                return line
    reply()
    sock.sendall(b"EHLO bench\r\n")
    reply()
    for i in range(n):
        sock.sendall(b"MAIL FROM:<a@bench.invalid>\r\nRCPT TO:<l@bench.invalid>\r\nDATA\r\n")
        reply(), reply(), reply()
        sock.sendall((body % i).encode() + b".\r\n")
        reply()
    sock.sendall(b"QUIT\r\n")
    reply()
print(time.perf_counter() - start)
"""


def floor(count: int, repeat: int) -> int:
    """The SMTP exchange alone (see the module's doc): per mail, client loop and the sink's CPU."""
    import resource
    import subprocess

    sys.path.insert(0, str(ROOT / "bench"))
    from loopback import CountingSink

    modes = ("smtplib", "aiosmtplib", "pipelined")
    times: dict[str, list[float]] = {m: [] for m in modes}
    sink_cpu: dict[str, list[float]] = {m: [] for m in modes}
    client_cpu: dict[str, list[float]] = {m: [] for m in modes}
    with CountingSink() as sink:
        for run in range(repeat):
            for mode in modes[run % 3 :] + modes[: run % 3]:  # interleaved: who goes first rotates
                sink.take()
                before = resource.getrusage(resource.RUSAGE_SELF)
                child_before = resource.getrusage(resource.RUSAGE_CHILDREN)
                out = subprocess.run(
                    [sys.executable, "-c", FLOOR_CLIENT, str(sink.port), str(count), mode],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                after = resource.getrusage(resource.RUSAGE_SELF)
                child_after = resource.getrusage(resource.RUSAGE_CHILDREN)
                time.sleep(0.1)
                got, duplicates = sink.take()
                if got != count or duplicates:
                    print(f"PROBLEM: {mode}: the sink got {got} of {count} ({duplicates} duplicates)")
                    return 1
                times[mode].append(float(out.stdout) / count * 1000)
                used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                sink_cpu[mode].append(used / count * 1000)
                used = (child_after.ru_utime - child_before.ru_utime) + (
                    child_after.ru_stime - child_before.ru_stime
                )
                client_cpu[mode].append(used / count * 1000)  # with the interpreter's start-up
    print(
        f"{count} mails of 5 KB, one connection, medians of {repeat}; load average {os.getloadavg()[0]:.1f}"
    )
    for mode in modes:
        print(
            f"{mode:10} {statistics.median(times[mode]):5.2f} ms per mail, "
            f"client CPU {statistics.median(client_cpu[mode]):4.2f} ms, "
            f"sink CPU {statistics.median(sink_cpu[mode]):4.2f} ms"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=540)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tmp", type=Path, default=None)
    parser.add_argument("--floor", action="store_true", help="the SMTP exchange alone, three clients")
    args = parser.parse_args()
    if args.floor:
        return floor(args.messages if args.messages != 540 else 1000, args.repeat)
    here, there = multiprocessing.Pipe()
    child = multiprocessing.Process(target=_server, args=(there,), daemon=True)
    child.start()
    port = here.recv()
    figures = []
    cpus = []
    delivered = 0
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
            elapsed, cpu, delivered = one_run(port, args.messages, Path(folder))
            figures.append(elapsed)
            cpus.append(cpu)
    here.send("stop")
    received, connections = here.recv()
    child.join(timeout=10)
    per_mail = statistics.median(figures) / max(delivered, 1) * 1000
    print(
        f"mails per pass: {delivered}; passes: {args.repeat}; received {received}; connections {connections}"
    )
    cpu_per_mail = statistics.median(cpus) / max(delivered, 1) * 1000
    print(
        f"delivery pass: median {statistics.median(figures):.3f} s; {per_mail:.2f} ms per mail "
        f"(the bot's CPU: {cpu_per_mail:.2f} ms per mail); load average {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Times the mail output's delivery path: N real Flatcar announcements queued in a fresh state file,
then one delivery pass to an aiosmtpd server on loopback (in a child process, so it does not share the
bot's interpreter lock). Per-message durability is kept: each mail is marked delivered in its own
SQLite transaction (synchronous=FULL) before the next one is sent. Prints figures, asserts nothing.

    .venv/bin/python bench/bench_smtp.py [--messages 540] [--repeat 3] [--tmp DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import multiprocessing
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


def one_run(port: int, count: int, tmp: Path) -> tuple[float, int]:
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

        async def deliver() -> tuple[float, int]:
            started = time.perf_counter()
            result = await deliverer.deliver()
            elapsed = time.perf_counter() - started
            await deliverer.close()
            return elapsed, result.delivered

        return asyncio.run(deliver())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=540)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tmp", type=Path, default=None)
    args = parser.parse_args()
    here, there = multiprocessing.Pipe()
    child = multiprocessing.Process(target=_server, args=(there,), daemon=True)
    child.start()
    port = here.recv()
    figures = []
    delivered = 0
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
            elapsed, delivered = one_run(port, args.messages, Path(folder))
            figures.append(elapsed)
    here.send("stop")
    received, connections = here.recv()
    child.join(timeout=10)
    per_mail = statistics.median(figures) / max(delivered, 1) * 1000
    print(
        f"mails per pass: {delivered}; passes: {args.repeat}; received {received}; connections {connections}"
    )
    print(f"delivery pass: median {statistics.median(figures):.3f} s; {per_mail:.2f} ms per mail")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`once` delivers what a poll queued while other sources are still being polled, as `run` does
(`Bot.poll_and_deliver`): a slow source does not hold back the mail of a fast one; a failing output is
tried again only in the last pass."""

from __future__ import annotations

import asyncio
import mailbox
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from bot.app import Bot
from bot.config import load_config
from tests.helpers import free_port
from tests.httpserver import LocalHTTPServer, reply
from tests.replay import feed_source, mail_output, mbox_output, state_header


def feed(name: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        f"<entry><title>{name} 1.0.0</title><id>urn:{name}:1</id><updated>2025-01-01T00:00:00Z</updated>"
        "<content>notes</content></entry></feed>"
    ).encode()


def write_config(tmp_path: Path, http: LocalHTTPServer, output: str) -> Path:
    path = tmp_path / "config.toml"
    sources = "".join(
        feed_source(name, http.url(f"/{name}.atom"), announce_on_first_run=1) for name in ("fast", "slow")
    )
    path.write_text(state_header(tmp_path / "state.sqlite3") + sources + output)
    return path


def once(path: Path) -> tuple[list[bool], int, int, dict[str, int]]:
    async def main() -> tuple[list[bool], int, int, dict[str, int]]:
        bot = Bot(load_config(path))
        try:
            polls, delivery = await bot.once()
        finally:
            await bot.aclose()
        return [p.ok for p in polls], delivery.delivered, delivery.failed, delivery.held

    return asyncio.run(main())


def test_a_fast_sources_mail_goes_out_while_a_slow_one_is_polled(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    box = tmp_path / "out.mbox"
    path = write_config(tmp_path, http_server, mbox_output("box", str(box)))
    http_server.set("/fast.atom", feed("fast"), content_type="application/atom+xml")
    seen_before_answer: list[int] = []

    def slow(h: BaseHTTPRequestHandler) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (box.exists() and len(mailbox.mbox(box)) >= 1):
            time.sleep(0.02)
        seen_before_answer.append(len(mailbox.mbox(box)) if box.exists() else 0)
        reply(h, feed("slow"), content_type="application/atom+xml")

    http_server.set_handler("/slow.atom", slow)
    assert once(path) == ([True, True], 2, 0, {})
    assert seen_before_answer == [1]  # the fast source's mail was out before the slow one answered
    assert len(mailbox.mbox(box)) == 2


def test_a_failing_output_is_tried_again_only_in_the_last_pass(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens: every SMTP connection is refused
    output = mail_output(port)
    path = write_config(tmp_path, http_server, output)
    http_server.set("/fast.atom", feed("fast"), content_type="application/atom+xml")
    fast_polled = threading.Event()

    def slow(h: BaseHTTPRequestHandler) -> None:
        time.sleep(0.5)  # the fast source's early pass fails meanwhile
        reply(h, feed("slow"), content_type="application/atom+xml")
        fast_polled.set()

    http_server.set_handler("/slow.atom", slow)
    polls, delivered, failed, held = once(path)
    assert polls == [True, True] and delivered == 0
    # one attempt in all, as a single pass makes: the early pass failed the fast source's mail; the
    # output then waits out its backoff, so the last pass holds the slow one's without a new attempt
    assert failed == 1
    assert held == {"list": 2}  # both queued, nothing lost
    assert fast_polled.is_set()

"""A Bot polling Flatcar's stable feed over HTTP reads a changed body only for its new entries
(bot/sources/feedmemo.py) and announces exactly what a reading of the whole body would: the new
release once, nothing for a re-rendered feed or an edited entry, and the memo survives a restart
(it is stored with the document)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

import bot.sources.feedmemo
from bot.app import Bot
from bot.config import load_config
from bot.pipeline import PollResult
from bot.sources.atomfast import read_atom
from bot.sources.atomsplit import cut_atom
from tests.helpers import DATA
from tests.httpserver import LocalHTTPServer
from tests.replay import feed_source, mbox_output, state_header

FEED = (DATA / "feeds" / "releases-feed-stable-trimmed.xml").read_bytes()


def _without_newest(body: bytes) -> bytes:
    cut = cut_atom(body)
    assert cut is not None
    start, end = cut.entries[0]
    return body[:start] + body[end:].lstrip()


def _poll(config: Path) -> list[PollResult]:
    async def main() -> list[PollResult]:
        bot = Bot(load_config(config))
        try:
            polls, _ = await bot.poll_and_deliver()
            return polls
        finally:
            await bot.aclose()

    return asyncio.run(main())


def test_a_changed_feed_is_read_for_its_new_entry_only(
    tmp_path: Path, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []  # entries handed to the reader per reading
    original = read_atom

    def counting(body: bytes) -> object:
        out = original(body)
        reads.append(-1 if out is None else len(out))
        return out

    monkeypatch.setattr(bot.sources.feedmemo, "read_atom", counting)
    config = tmp_path / "config.toml"
    config.write_text(
        state_header(tmp_path / "state.sqlite3")
        + feed_source("stable", http_server.url("/stable.xml"), project="flatcar", stream="stable")
        + mbox_output(path=str(tmp_path / "out.mbox"))
    )
    http_server.set("/stable.xml", _without_newest(FEED), content_type="application/atom+xml")
    first = _poll(config)
    assert first[0].ok and first[0].announced == () and reads == [first[0].new_releases]

    http_server.set("/stable.xml", FEED, content_type="application/atom+xml")
    second = _poll(config)  # a new process: the memo comes from the state
    assert second[0].ok and len(second[0].announced) == 1 and second[0].new_releases == 1
    assert reads[1:] == [1]  # one entry read, the others remembered
    mbox = (tmp_path / "out.mbox").read_text()
    newest = re.search(rb"<title>([^<]+)</title>", FEED[cut_atom(FEED).entries[0][0] :])  # type: ignore[union-attr]
    assert newest is not None and newest.group(1).decode() in mbox

    rerendered = re.sub(
        rb"<updated>[^<]*</updated>", b"<updated>2030-01-01T00:00:00+00:00</updated>", FEED, count=1
    )
    http_server.set("/stable.xml", rerendered, content_type="application/atom+xml")
    third = _poll(config)
    assert third[0].ok and third[0].announced == () and reads[2:] == [0]  # nothing read, nothing new

    cut = cut_atom(FEED)
    assert cut is not None
    start, end = cut.entries[2]
    edited = (
        FEED[:start] + FEED[start:end].replace(b"</entry>", b"<rights>edited</rights></entry>") + FEED[end:]
    )
    http_server.set("/stable.xml", edited, content_type="application/atom+xml")
    fourth = _poll(config)
    assert fourth[0].ok and fourth[0].announced == () and reads[3:] == [1]  # read again: known version
    assert mbox == (tmp_path / "out.mbox").read_text()  # one mail in all

"""The IRC sink inside the real delivery loop (`Bot.deliver`, SQLite outbox) against the scripted server
of tests/fakeircd.py: confirmed delivery, a disconnect mid-delivery, backlog summaries."""

from __future__ import annotations

import asyncio
import json
import textwrap
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bot.app import Bot
from bot.config import load_config
from bot.irc.flood import Priority
from bot.messages import sample_events
from bot.model import Event
from bot.sinks import build_sinks
from bot.sinks.irc import MAX_REPLY_BACKLOG, IrcChannelSink, summary_entry
from bot.store import PollRecord
from tests.fakeircd import FakeIrcd

NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)


def config_file(tmp_path: Path, port: int, **keys: object) -> Path:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "tls": False,
        "nick": "rbot",
        "reconnect_initial": "0.2s",
        "reconnect_max": "0.5s",
        "connect_timeout": "10s",
        "flood_interval": "0.1s",
    }
    values.update(keys)
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent("""\
        [bot]
        state = "state.sqlite3"

        [[sources]]
        name = "flatcar"
        kind = "flatcar"

        [[outputs]]
        name = "net"
        kind = "irc"
        """)
        + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
        + '[[outputs.channels]]\nname = "#c"\n',
        encoding="utf-8",
    )
    return path


def events(count: int) -> list[Event]:
    base = sample_events()[0]
    assert isinstance(base, Event)
    link = "https://www.flatcar.org/releases#release-{}"
    return [
        replace(base, release=replace(base.release, version=f"4230.2.{i}", link=link.format(f"4230.2.{i}")))
        for i in range(count)
    ]


def queue(bot: Bot, items: list[Event]) -> None:
    bot.store.commit_poll(
        PollRecord("flatcar", now=NOW, documents=(), new_releases=(), events=bot._messages(items), error=None)
    )


def run(test: object) -> None:
    async def main() -> None:
        server = await FakeIrcd().start()
        try:
            await asyncio.wait_for(test(server), 60)  # type: ignore[operator]
        finally:
            await server.stop()

    asyncio.run(main())


def privmsgs(server: FakeIrcd) -> list[str]:
    return [line.split(" :", 1)[1] for _, line in server.lines if line.startswith("PRIVMSG #c ")]


def test_delivered_only_after_confirmation_and_in_order(tmp_path: Path) -> None:
    async def test(server: FakeIrcd) -> None:
        bot = Bot(load_config(config_file(tmp_path, server.port)))
        try:
            queue(bot, events(3))
            result = await bot.deliver()  # opens the sink: connects and waits for the join
            assert (result.delivered, result.failed) == (3, 0)
            assert [text.split(" released")[0] for text in privmsgs(server)] == [
                f"[Flatcar] stable 4230.2.{i}" for i in range(3)
            ]
            lines = [line for _, line in server.lines]
            for index, line in enumerate(lines):
                if line.startswith("PRIVMSG #c "):
                    assert lines[index + 1].startswith("PING rb-")  # each one confirmed
        finally:
            await bot.aclose()
        assert server.lines[-1][1] == "QUIT :release-bot stopping"

    run(test)


def test_a_disconnect_mid_delivery_keeps_the_rest_queued_without_backoff(tmp_path: Path) -> None:
    async def test(server: FakeIrcd) -> None:
        bot = Bot(load_config(config_file(tmp_path, server.port, flood_burst=1, flood_interval="0.5s")))
        try:
            queue(bot, events(4))
            dropped = False

            def drop_after_second(conn, line: str) -> None:
                nonlocal dropped
                if line.startswith("PRIVMSG #c") and "4230.2.1" in line and not dropped:
                    dropped = True
                    server.answer_pings = False  # the second one is never confirmed …
                    conn.close()  # … because the connection dies

            server.on_line = drop_after_second
            result = await bot.deliver()
            assert result.delivered == 1 and result.failed == 1
            (sink,) = bot.sinks
            assert isinstance(sink, IrcChannelSink)
            pending = bot.store.pending(sink.name, now=datetime.now(UTC))
            assert [item.payload["text"].split(" released")[0] for item in pending] == [
                f"[Flatcar] stable 4230.2.{i}" for i in (1, 2, 3)
            ]
            assert all(item.attempts == 0 for item in pending)  # not a failed attempt: no backoff
            server.answer_pings = True
            server.on_line = None
            client = sink.network.client
            assert client is not None
            assert await client.wait_until(lambda: sink.ready(), 10)
            result = await bot.deliver()
            assert (result.delivered, result.failed) == (3, 0)
            texts = [t.split(" released")[0] for t in privmsgs(server)]
            assert texts == [f"[Flatcar] stable 4230.2.{i}" for i in (0, 1, 1, 2, 3)]  # 1 again: unconfirmed
        finally:
            await bot.aclose()

    run(test)


def test_a_long_backlog_goes_out_as_summary_lines(tmp_path: Path) -> None:
    async def test(server: FakeIrcd) -> None:
        bot = Bot(load_config(config_file(tmp_path, server.port, backlog_summary_threshold=3)))
        try:
            queue(bot, events(12))
            result = await bot.deliver()
            assert (result.delivered, result.failed) == (12, 0)
            sent = privmsgs(server)
            assert 1 <= len(sent) < 12
            # as many as fit in a line, each with its link: 4 of ~100 bytes
            assert sent[0].startswith("4 queued announcements (8 more follow): ")
            assert sent[1].startswith("4 queued announcements (4 more follow): ")
            assert sent[2].startswith("4 queued announcements: ")
            assert len(sent) == 3
            summary = " ".join(sent)
            for i in range(12):
                assert f"[Flatcar] stable 4230.2.{i} released" in summary
                assert f"#release-4230.2.{i}" in summary  # each summarised release keeps its link
            assert bot.store.outbox_counts() == {"net/#c": {"delivered": 12}}
        finally:
            await bot.aclose()

    run(test)


def test_summary_entry_is_the_head_of_the_announcement_and_its_link() -> None:
    text = "[Flatcar] stable 4152.2.2 released 2025-03-20 — kernel 6.6.83 — https://example.org/r#4152"
    assert summary_entry(text) == "[Flatcar] stable 4152.2.2 released 2025-03-20 https://example.org/r#4152"
    assert summary_entry("[Flatcar] beta 1.1.0 — no link") == "[Flatcar] beta 1.1.0"
    assert len(summary_entry("x" * 500).encode()) <= 200
    long_head = summary_entry("y" * 500 + " — https://example.org/notes")
    assert long_head.endswith("… https://example.org/notes") or long_head.endswith(
        " https://example.org/notes"
    )
    assert len(long_head.encode()) <= 200


def test_a_crowd_of_askers_cannot_hold_back_announcements(tmp_path: Path) -> None:
    """Each asker is under their own rate limit, yet together they would queue replies (which go ahead of
    announcements) for minutes: past MAX_REPLY_BACKLOG waiting replies, questions are ignored; admins
    still get an answer."""

    async def test(server: FakeIrcd) -> None:
        path = config_file(tmp_path, server.port, flood_burst=1, flood_interval="60s", channel_rate_burst=100)
        path.write_text(
            path.read_text().replace(
                "[[outputs.channels]]",
                '[outputs.admins]\nhostmasks = ["boss!*@admin.example"]\n[[outputs.channels]]',
            ),
            encoding="utf-8",
        )
        (sink,) = [s for s in build_sinks(load_config(path).outputs) if isinstance(s, IrcChannelSink)]
        network = sink.network
        try:
            await sink.open()  # connects and joins; the JOIN took the only token: replies wait
            client = network.client
            assert client is not None and client.is_joined("#c")
            for i in range(3 * MAX_REPLY_BACKLOG):
                # distinct questions: the same one within repeat_window would be answered once
                server.conn.send(f":user{i}!u@host{i}.example PRIVMSG #c :!release 1.{i}")
            server.conn.send(":boss!b@admin.example PRIVMSG #c :!status")
            mark = len(server.lines)
            server.conn.send("PING :sync")  # answered after every line before it was handled
            await server.wait_for(lambda line: line == "PONG sync", since=mark)
            assert client.queued(Priority.REPLY) == MAX_REPLY_BACKLOG + 1  # the admin's answer too
        finally:
            await network.stop()

    run(test)

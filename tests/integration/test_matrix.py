"""The Matrix output against a real Synapse homeserver (tests/synapse.py): announcements through the
real delivery loop and SQLite outbox, exactly once across a bot restart and a Synapse restart (the
outbox message id is the txnId), `!release stable` answered in a room, invitations, no history answered
on first start, IRC's manners (unknown commands silent unless addressed, a repeated question answered
once), and the message rate limit hit and honoured."""

from __future__ import annotations

import asyncio
import logging
import textwrap
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from bot.app import Bot
from bot.commands import answer
from bot.config import load_config
from bot.messages import sample_events
from bot.model import Event
from bot.sinks.matrix import MatrixRoomSink, read_sync_state
from bot.store import PollRecord
from tests.helpers import history_snapshot
from tests.synapse import Synapse, User, synapse

__all__ = ["synapse"]

NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)
_counter = iter(range(1000))


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}x{int(time.time() * 1000) % 100000}"


def config_file(tmp_path: Path, synapse: Synapse, bot: User, rooms: list[str], extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bot]
        state = "state.sqlite3"

        [[sources]]
        name = "flatcar"
        kind = "flatcar"

        [[outputs]]
        name = "mx"
        kind = "matrix"
        homeserver = "{synapse.url}"
        user_id = "{bot.user_id}"
        access_token_env = "MATRIX_TOKEN"
        """)
        + extra
        + "".join(f'[[outputs.rooms]]\nroom = "{room}"\n' for room in rooms),
        encoding="utf-8",
    )
    return path


def events(count: int) -> list[Event]:
    base = sample_events()[0]
    assert isinstance(base, Event)
    return [replace(base, release=replace(base.release, version=f"4230.2.{i}")) for i in range(count)]


def queue(bot: Bot, items: list[Event]) -> None:
    bot.store.commit_poll(
        PollRecord("flatcar", now=NOW, documents=(), new_releases=(), events=bot._messages(items), error=None)
    )


def bodies(synapse: Synapse, user: User, room_id: str, sender: str) -> list[str]:
    return [str(e["content"]["body"]) for e in synapse.messages(user, room_id) if e["sender"] == sender]  # type: ignore[index]


def run(coro: Callable[[], Awaitable[None]], limit: float = 120) -> None:
    async def main() -> None:
        await asyncio.wait_for(coro(), limit)

    asyncio.run(main())


async def wait_for(check: Callable[[], bool], limit: float = 20) -> None:
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


def test_announcements_once_across_a_bot_restart_and_a_synapse_restart(
    tmp_path: Path, synapse: Synapse, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, bot_user = synapse.register(unique("owner")), synapse.register(unique("bot"))
    alias = unique("room")
    room_id = synapse.create_room(owner, alias)
    monkeypatch.setenv("MATRIX_TOKEN", bot_user.token)
    config = load_config(config_file(tmp_path, synapse, bot_user, [f"#{alias}:localhost"]))

    async def first_run() -> None:
        bot = Bot(config)
        try:
            queue(bot, events(3))
            sink = bot.sinks[0]
            assert isinstance(sink, MatrixRoomSink)
            await sink.open()
            client = sink.account.client
            assert client is not None
            real_send = client.send
            sent = 0

            async def send_then_lose_the_answer(room: str, txn: str, content: dict[str, object]) -> str:
                nonlocal sent
                event_id = await real_send(room, txn, content)
                sent += 1
                if sent == 2:  # the homeserver has it, the bot never hears so (a crash, a cut)
                    raise ConnectionError("answer lost")
                return event_id

            client.send = send_then_lose_the_answer  # type: ignore[assignment]
            result = await bot.deliver()
            assert (result.delivered, result.failed) == (1, 1)
            await sink.close()
        finally:
            await bot.aclose()

    run(first_run)
    assert [b.split(" released")[0] for b in bodies(synapse, owner, room_id, bot_user.user_id)] == [
        "[Flatcar] stable 4230.2.0",
        "[Flatcar] stable 4230.2.1",
    ]
    synapse.restart()

    async def second_run() -> None:
        # a new process, after the retry backoff: same state file, same access token
        bot = Bot(config, clock=lambda: datetime.now(UTC) + timedelta(hours=2))
        try:
            result = await bot.deliver()
            assert (result.delivered, result.failed) == (2, 0)  # 4230.2.1 again (same txnId), 4230.2.2
        finally:
            await bot.aclose()

    run(second_run)
    sent = bodies(synapse, owner, room_id, bot_user.user_id)
    assert [b.split(" released")[0] for b in sent] == [f"[Flatcar] stable 4230.2.{i}" for i in range(3)]
    event = next(e for e in synapse.messages(owner, room_id) if e["sender"] == bot_user.user_id)
    content = event["content"]
    assert isinstance(content, dict)
    assert content["msgtype"] == "m.notice"
    assert content["format"] == "org.matrix.custom.html"
    assert "<b>[Flatcar] stable 4230.2.0</b>" in str(content["formatted_body"])


def record_history(bot: Bot) -> None:
    snapshot = history_snapshot(
        sorted(p.name for p in (Path(__file__).parents[1] / "data" / "history").iterdir())[-1]
    )
    releases = tuple(r for d in snapshot.documents for r in d.releases)
    bot.store.commit_poll(PollRecord("flatcar", now=NOW, new_releases=releases))


def test_commands_answered_invitations_and_no_history_on_first_start(
    tmp_path: Path, synapse: Synapse, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, bot_user = synapse.register(unique("owner")), synapse.register(unique("bot"))
    stranger = synapse.register(unique("stranger"))
    alias = unique("room")
    room_id = synapse.create_room(owner, alias)
    other_room = synapse.create_room(owner, unique("other"), invite=(bot_user.user_id,))
    strange_room = synapse.create_room(stranger, unique("strange"), invite=(bot_user.user_id,))
    monkeypatch.setenv("MATRIX_TOKEN", bot_user.token)
    path = config_file(
        tmp_path, synapse, bot_user, [f"#{alias}:localhost"], f'invite_from = ["{owner.user_id}"]\n'
    )
    config = load_config(path)
    send = "/_matrix/client/v3/rooms/{}/send/m.room.message/{}"

    def say(room: str, text: str) -> None:
        synapse.call(owner, "PUT", send.format(room, unique("t")), {"msgtype": "m.text", "body": text})

    async def main() -> None:
        bot = Bot(config)
        try:
            record_history(bot)
            sink = bot.sinks[0]
            assert isinstance(sink, MatrixRoomSink)
            await sink.open()  # joins the room, starts syncing
            say(
                room_id, "!release beta"
            )  # before the first sync (say() blocks the loop): history, unanswered
            account = sink.account
            assert account.synced is not None
            await asyncio.wait_for(account.synced.wait(), 20)
            assert read_sync_state(config.outputs[0].sync_state, bot_user.user_id)  # type: ignore[union-attr]
            say(room_id, "!release stable")
            say(room_id, "just chatting")
            say(room_id, "!release  stable")  # the same question a moment later: answered once
            say(room_id, "!frobnicate")  # another bot's command: silent, as in an IRC channel
            localpart = bot_user.user_id[1:].split(":")[0]
            say(room_id, f"{localpart}: !frobnicate")  # addressed by name: the hint

            def answers() -> list[str]:
                return bodies(synapse, owner, room_id, bot_user.user_id)

            await wait_for(
                lambda: any("stable" in a for a in answers()) and any("try" in a for a in answers())
            )
            await asyncio.sleep(1.5)  # nothing else comes
            replies = answers()
            assert len(replies) == 2, replies
            expected = answer("!release stable", bot.state_view())
            assert expected and replies == ["\n".join(expected), "unknown command 'frobnicate'; try !help"]
            assert "4" in replies[0] and "stable" in replies[0]
            joined = synapse.call(bot_user, "GET", "/_matrix/client/v3/joined_rooms")["joined_rooms"]
            assert isinstance(joined, list)

            def joined_rooms() -> list[str]:
                answer = synapse.call(bot_user, "GET", "/_matrix/client/v3/joined_rooms")
                return cast(list[str], answer["joined_rooms"])

            await wait_for(lambda: other_room in joined_rooms())
            assert strange_room not in joined_rooms()
            await sink.close()
        finally:
            await bot.aclose()

    run(main)
    # the bot's own notices and the chatter were not answered; the command said before the first
    # sync (history) was not answered either
    assert not any("beta" in b for b in bodies(synapse, owner, room_id, bot_user.user_id))


def test_rate_limit_hit_and_honoured(
    tmp_path: Path, synapse: Synapse, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    owner = synapse.register(unique("owner"))
    bot_user = synapse.register(unique("bot"), unlimited=False)  # 1 message/s, burst 6
    alias = unique("room")
    room_id = synapse.create_room(owner, alias)
    monkeypatch.setenv("MATRIX_TOKEN", bot_user.token)
    config = load_config(
        config_file(tmp_path, synapse, bot_user, [f"#{alias}:localhost"], "answer_commands = false\n")
    )
    caplog.set_level(logging.INFO, logger="release-bot.matrix")

    async def main() -> None:
        bot = Bot(config)
        try:
            queue(bot, events(10))
            result = await bot.deliver()
            assert (result.delivered, result.failed) == (10, 0)
        finally:
            await bot.aclose()

    run(main)
    waits = [r for r in caplog.records if "rate limited; waiting" in r.getMessage()]
    assert waits, "the homeserver's rate limit was never hit"
    sent = bodies(synapse, owner, room_id, bot_user.user_id)
    assert [b.split(" released")[0] for b in sent] == [f"[Flatcar] stable 4230.2.{i}" for i in range(10)]

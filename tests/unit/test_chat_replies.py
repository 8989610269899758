"""Channel answers consistent across platforms: IRC (the router), Matrix rooms and Discord slash
commands give the same answer text for the same question over the same state, keep unknown commands
silent unless the bot was addressed, name their own prefix in help texts, and stay within each
platform's size."""

from __future__ import annotations

from typing import Any, cast

import pytest

from bot.chat.discord_interactions import respond
from bot.chat.replies import Asked, RoomManners, addressed, chat_answer, command_of
from bot.commands import StateView
from bot.irc.protocol import Incoming
from bot.irc.router import CommandRouter, Reply, RouterConfig
from tests.helpers import SNAPSHOTS, history_snapshot
from tests.unit.test_chat_discord_interactions import NOW, PUBLIC, signed

STATE = StateView.of(r for d in history_snapshot(SNAPSHOTS[-1]).documents for r in d.releases)
QUESTIONS = [
    "release",
    "release stable",
    "release lts",
    "release 4081.2.0",
    "changes beta",
    "deprecations",
    "roadmap",
    "cve CVE-2024-6387",
    "security stable",
    "help release",
]


def irc_private(text: str, prefix: str = "!") -> list[str]:
    """What IRC answers to a private message (its whole answer, before any channel shaping)."""
    router = CommandRouter(RouterConfig(prefix=prefix))
    message = Incoming("alice!a@h", "alice", "release-bot", text, True, None)
    reply = router.handle(message, nick="release-bot", now=0.0, state=lambda: STATE)
    return list(reply.lines) if isinstance(reply, Reply) else []


def irc_channel(text: str) -> list[str]:
    router = CommandRouter(RouterConfig())
    message = Incoming("alice!a@h", "alice", "#flatcar", text, False, None)
    reply = router.handle(message, nick="release-bot", now=0.0, state=lambda: STATE)
    return list(reply.lines) if isinstance(reply, Reply) else []


def matrix(text: str, *, mentioned: bool = False) -> str | None:
    asked = command_of(
        text, prefix="!", names=("@release-bot:example.org", "release-bot"), mentioned=mentioned
    )
    return None if asked is None else chat_answer(asked, STATE, prefix="!")


def discord(name: str, value: str | None = None) -> str:
    data: dict[str, Any] = {"name": name}
    if value is not None:
        data["options"] = [{"name": "channel", "type": 3, "value": value}]
    status, body = respond(
        headers=signed({"type": 2, "data": data})[0],
        body=signed({"type": 2, "data": data})[1],
        public_key=PUBLIC,
        state=lambda: STATE,
        ephemeral=True,
        now=NOW,
    )
    assert status == 200
    return str(cast(dict[str, Any], body["data"])["content"])


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_same_answer_on_irc_matrix_and_discord(question: str) -> None:
    lines = irc_private("!" + question)
    assert lines, question
    # Matrix: the same lines in one message (both cut after 10 lines: IRC's private answer)
    assert matrix("!" + question) == "\n".join(lines)
    name, _, value = question.partition(" ")  # Discord: the same, its commands typed with "/"
    assert discord(name, value or None) == "\n".join(irc_private("/" + question, prefix="/"))
    # an IRC channel gets the first line, naming the asker
    assert irc_channel("!" + question)[0].startswith("alice: " + lines[0][:40])


def test_unknown_commands_silent_unless_the_bot_is_addressed() -> None:
    assert irc_channel("!frobnicate") == [] and matrix("!frobnicate") is None
    hint = "unknown command 'frobnicate'; try !help"
    assert irc_channel("release-bot: !frobnicate") == [f"alice: {hint}"]
    assert matrix("release-bot: !frobnicate") == hint
    assert matrix("@release-bot:example.org, frobnicate") == hint
    assert matrix("!frobnicate", mentioned=True) == hint  # a mention pill (m.mentions)
    assert discord("frobnicate") == "unknown command 'frobnicate'; try /help"  # a slash command is addressed
    assert matrix("just chatting") is None and matrix("!!!") is None


def test_addressed_forms_like_irc() -> None:
    names = ("release-bot",)
    assert addressed("release-bot: help", names) == "help"
    assert addressed("Release-Bot, !release stable", names) == "!release stable"
    assert addressed("release-bot help", names) == "help"
    assert addressed("release-botty: help", names) is None
    assert matrix("release-bot: release stable") == matrix("!release stable")


def test_help_names_each_platforms_prefix() -> None:
    assert "!release <channel>" in str(matrix("!help"))
    help_discord = discord("help")
    assert "/release <channel>" in help_discord and "!release" not in help_discord
    assert "Example: /release stable" in discord("help", "release")


def test_length_limits_per_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    text = str(chat_answer(Asked("!help", True), STATE, prefix="!", max_chars=100))
    assert len(text) <= 100 and text.endswith("…")
    import bot.chat.replies

    many = [f"line {i} " + "x" * 300 for i in range(25)]
    monkeypatch.setattr(bot.chat.replies, "answer", lambda *a, **k: many)
    text = str(matrix("!roadmap"))
    assert text.splitlines() == [*many[:9], "… and 16 more lines"]  # IRC's private cut
    on_discord = discord("roadmap")
    assert len(on_discord) <= 2000 and on_discord.startswith("line 0") and on_discord.endswith("…")
    assert all(len(discord(q.partition(" ")[0], q.partition(" ")[2] or None)) <= 2000 for q in QUESTIONS)


def test_room_manners_answer_a_repeated_question_once() -> None:
    manners = RoomManners()

    def ask(room: str, user: str, line: str, now: float) -> bool:
        if manners.allow(room=room, user=user, line=line, now=now):
            manners.answered(room=room, line=line, now=now)
            return True
        return False

    assert ask("!r", "@a", "!release  stable", 0.0)
    assert not ask("!r", "@b", "!Release stable", 1.0)  # answered a moment ago, for everyone there
    assert ask("!other", "@b", "!release stable", 1.0)
    assert ask("!r", "@a", "!release stable", 6.0)
    assert ask("!r", "@a", "!help", 6.1)
    assert not ask("!r", "@a", "!roadmap", 6.2)  # three in a burst, then one per 10 s
    assert ask("!r", "@a", "!roadmap", 20.0)
    # a question that got no answer (an unknown command, silent) does not block the next one
    assert manners.allow(room="!r", user="@c", line="!frobnicate", now=30.0)
    assert manners.allow(room="!r", user="@c", line="!frobnicate", now=30.1)

"""From an incoming message to a reply or an admin request: prefix, nick address, private messages,
rate limits, admin checks. Pure (a fake clock)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.commands import StateView
from bot.irc.protocol import Incoming
from bot.irc.router import AdminRequest, CommandRouter, Reply, RouterConfig, mask_matches
from bot.model import Release

STABLE = Release(
    source="flatcar",
    project="Flatcar",
    stream="stable",
    channel="stable",
    version="4152.2.2",
    published=datetime(2025, 3, 20, tzinfo=UTC),
    link="https://www.flatcar.org/releases#release-4152.2.2",
    packages={"kernel": "6.6.83"},
)
STATE = StateView.of([STABLE])
STABLE_LINE = (
    "Flatcar stable 4152.2.2 (2025-03-20) — kernel 6.6.83 — https://www.flatcar.org/releases#release-4152.2.2"
)


def msg(text: str, *, nick: str = "alice", target: str = "#c", account: str | None = None) -> Incoming:
    return Incoming(
        f"{nick}!a@host.example", nick, target, text, private=not target.startswith("#"), account=account
    )


def handle(router: CommandRouter, message: Incoming, now: float = 0.0) -> Reply | AdminRequest | None:
    return router.handle(message, nick="release-bot", now=now, state=lambda: STATE)


def test_prefix_command_in_a_channel_names_the_asker():
    router = CommandRouter(RouterConfig())
    assert handle(router, msg("!release stable")) == Reply("#c", ("alice: " + STABLE_LINE,), private=False)
    plain = CommandRouter(RouterConfig(address_asker=False))
    assert handle(plain, msg("!release stable")) == Reply("#c", (STABLE_LINE,), private=False)


@pytest.mark.parametrize(
    "text",
    [
        "release-bot: release stable",
        "Release-Bot, release stable",
        "release-bot: !release stable",
        "release-bot:release stable",
        "release-bot release stable",
        "  release-bot   release stable",
    ],
)
def test_addressed_by_nick(text: str):
    reply = handle(CommandRouter(RouterConfig()), msg(text))
    assert reply == Reply("#c", ("alice: " + STABLE_LINE,), private=False)


@pytest.mark.parametrize("text", ["release stable", "!release stable", "release-bot: release stable"])
def test_private_message_answered_to_the_sender(text: str):
    reply = handle(CommandRouter(RouterConfig()), msg(text, target="release-bot"))
    assert reply == Reply("alice", (STABLE_LINE,), private=True)


@pytest.mark.parametrize(
    "text", ["hello there", "release stable", "release-botty: release", "!!!", "! release", "release-bot"]
)
def test_chatter_gets_nothing(text: str):
    assert handle(CommandRouter(RouterConfig()), msg(text)) is None


def test_custom_prefix():
    router = CommandRouter(RouterConfig(prefix="?"))
    assert handle(router, msg("?release stable")) == Reply("#c", ("alice: " + STABLE_LINE,), private=False)
    assert handle(router, msg("!release stable")) is None


def test_unknown_command_silent_in_channels_by_default():
    assert handle(CommandRouter(RouterConfig()), msg("!frobnicate")) is None
    hint = handle(CommandRouter(RouterConfig(unknown_command="hint")), msg("!frobnicate"))
    assert hint == Reply("#c", ("alice: unknown command 'frobnicate'; try !help",), private=False)


@pytest.mark.parametrize("text", ["release-bot: frobnicate", "release-bot frobnicate"])
def test_unknown_command_hint_when_addressed_or_private(text: str):
    hint = handle(CommandRouter(RouterConfig()), msg(text))
    assert hint == Reply("#c", ("alice: unknown command 'frobnicate'; try !help",), private=False)
    private = handle(CommandRouter(RouterConfig()), msg("!frobnicate", target="release-bot"))
    assert private == Reply("alice", ("unknown command 'frobnicate'; try !help",), private=True)


def test_a_repeated_question_is_answered_once():
    router = CommandRouter(RouterConfig(repeat_window=5.0))
    assert handle(router, msg("!release stable"), now=0.0) is not None
    assert handle(router, msg("!release  STABLE", nick="bob"), now=2.0) is None
    assert handle(router, msg("!release stable", target="#other"), now=2.0) is not None  # elsewhere
    assert handle(router, msg("!release stable", nick="carol"), now=5.5) is not None


def test_ignore_list_from_config_and_admin_command():
    router = CommandRouter(RouterConfig(ignore=("otherbot", "*!*@bots.example"), admin_accounts=("boss",)))
    assert handle(router, msg("!help", nick="OtherBot")) is None
    assert handle(router, Incoming("x!y@bots.example", "x", "#c", "!help", False, None)) is None
    added = handle(router, msg("!ignore add mallory", account="boss"))
    assert added == Reply(
        "#c", ("ignoring mallory!*@* until restart (add it to `ignore` in the config to keep it)",), False
    )
    assert handle(router, msg("!release stable", nick="mallory", target="release-bot")) is None
    listed = handle(router, msg("!ignore list", account="boss", target="release-bot"))
    assert listed == Reply("alice", ("ignoring: otherbot!*@*, *!*@bots.example, mallory!*@*",), True)
    removed = handle(router, msg("!ignore del mallory", account="boss", target="release-bot"))
    assert removed == Reply("alice", ("no longer ignoring mallory!*@*",), True)
    assert handle(router, msg("!release stable", nick="mallory", target="release-bot")) is not None
    refused = handle(router, msg("!ignore add bob", target="release-bot"))
    assert refused == Reply("alice", ("sorry, !ignore is for the bot's admins only",), True)


def test_another_bot_is_never_answered():
    bot = Incoming("b!b@h", "b", "#c", "!release stable", private=False, account=None, from_bot=True)
    assert handle(CommandRouter(RouterConfig()), bot) is None
    assert handle(CommandRouter(RouterConfig()), msg("!release stable")) is not None


def test_query_arguments_with_injection_attempts_are_sanitised():
    reply = handle(CommandRouter(RouterConfig()), msg("!release \r\nQUIT\x00\x01 :x"))
    assert isinstance(reply, Reply)
    for line in reply.lines:
        assert not any(ch in line for ch in "\r\n\0\x01")


def test_per_user_rate_limit_by_host_not_nick():
    router = CommandRouter(
        RouterConfig(user_burst=2, user_interval=10.0, channel_burst=100, repeat_window=0.0)
    )
    assert handle(router, msg("!help"), now=0.0) is not None
    assert handle(router, msg("!help", nick="alice2"), now=0.0) is not None  # same user@host
    assert handle(router, msg("!help", nick="alice3"), now=1.0) is None
    assert handle(router, msg("!help"), now=11.0) is not None
    other = Incoming("bob!b@elsewhere", "bob", "#c", "!help", private=False, account=None)
    assert handle(router, other, now=11.0) is not None


def test_per_channel_rate_limit():
    router = CommandRouter(
        RouterConfig(user_burst=100, channel_burst=3, channel_interval=5.0, repeat_window=0.0)
    )
    answers = [handle(router, msg("!help", nick=f"n{i}"), now=0.0) for i in range(5)]
    assert [a is not None for a in answers] == [True, True, True, False, False]
    assert handle(router, msg("!help", target="#other"), now=0.0) is not None
    assert handle(router, msg("!help", nick="late"), now=5.5) is not None
    # private messages do not use the channel's budget
    assert handle(router, msg("!help", nick="p", target="release-bot"), now=0.0) is not None


def test_admin_commands_only_for_admins():
    config = RouterConfig(admin_accounts=("Boss",), admin_hostmasks=("ops!*@trusted.example",))
    router = CommandRouter(config)
    refused = handle(router, msg("!pause #c"))
    assert refused == Reply("#c", ("sorry, !pause is for the bot's admins only",), private=False)
    by_account = handle(router, msg("!pause #c", account="boss"))
    assert by_account == AdminRequest("pause", ("#c",), "#c", False, "boss")
    masked = Incoming("ops!x@trusted.example", "ops", "release-bot", "status", private=True, account=None)
    assert handle(router, masked) == AdminRequest("status", (), "ops", True, "ops!x@trusted.example")
    spoof = Incoming("ops!x@untrusted.example", "ops", "#c", "!status", private=False, account=None)
    assert isinstance(handle(router, spoof), Reply)


def test_admins_are_not_rate_limited():
    router = CommandRouter(RouterConfig(user_burst=1, admin_accounts=("boss",)))
    for _ in range(5):
        assert handle(router, msg("!status", account="boss")) is not None


def test_long_answers_are_capped_in_channels():
    many = StateView.of(
        [
            Release(source=f"s{i}", project=f"P{i}", stream="stable", channel="stable", version="1.0")
            for i in range(12)
        ]
    )
    router = CommandRouter(RouterConfig(max_reply_lines=3))
    reply = router.handle(msg("!release"), nick="rb", now=0.0, state=lambda: many)
    # a channel gets one line, and where the rest is
    assert reply == Reply("#c", ("alice: P0: stable 1.0 (unknown date) (+11 more: /msg rb release)",), False)
    private = router.handle(msg("!release", target="rb", nick="x"), nick="rb", now=0.0, state=lambda: many)
    assert isinstance(private, Reply) and len(private.lines) == 6


def test_mask_matching():
    assert mask_matches("*!*@host.example", "Nick!user@HOST.example")
    assert mask_matches("nick[m]!*@*", "nick[m]!u@h")  # [ ] are not special
    assert not mask_matches("nick[m]!*@*", "nickm!u@h")
    assert mask_matches("n?ck!*@*", "nick!u@h")
    assert not mask_matches("*!*@host.example", "n!u@evilhost.example.com")

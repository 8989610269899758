"""The Matrix output's pure parts: config errors, request paths, error answers, what a /sync means."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.chat.matrix_protocol import command_text, interpret_sync, notice, parse_error, reply, send_path
from bot.config import parse_config
from bot.config.matrix import MatrixOutput
from bot.errors import ConfigError

BASE = """
[[sources]]
name = "flatcar"
kind = "flatcar"

[[outputs]]
name = "mx"
kind = "matrix"
homeserver = "https://matrix.example.org"
user_id = "@release-bot:example.org"
access_token_env = "MATRIX_TOKEN"
"""


def parse(text: str) -> MatrixOutput:
    config = parse_config(tomllib.loads(text), path=Path("/etc/rb/config.toml"))
    output = config.outputs[0]
    assert isinstance(output, MatrixOutput)
    return output


def test_config_rooms_with_their_filters_and_defaults() -> None:
    output = parse(
        BASE
        + '[outputs.filter]\nchannels = ["stable"]\n'
        + '[[outputs.rooms]]\nroom = "#flatcar:example.org"\n'
        + '[[outputs.rooms]]\nroom = "!abc:example.org"\n[outputs.rooms.filter]\nkinds = ["deprecation"]\n'
    )
    assert [r.room for r in output.rooms] == ["#flatcar:example.org", "!abc:example.org"]
    assert output.rooms[0].filter.channels == ("stable",)  # inherited
    assert output.rooms[1].filter.kinds == ("deprecation",)
    assert output.sync_state == Path("/etc/rb/state/matrix-mx.sync.json")
    assert output.prefix == "!" and output.answer_commands


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ('[[outputs.rooms]]\nroom = "flatcar"\n', "outputs[0].rooms[0].room", "room id or alias"),
        ("", "outputs[0].rooms", "at least one"),
        ('invite_from = ["bob"]\n[[outputs.rooms]]\nroom = "#a:b"\n', "outputs[0].invite_from[0]", "user id"),
        ('[[outputs.rooms]]\nroom = "#a:b"\nrom = 1\n', "outputs[0].rooms[0].rom", "unknown key"),
    ],
)
def test_config_errors_name_file_and_key(extra: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(BASE + extra)
    assert f"/etc/rb/config.toml: {key}: " in str(caught.value)
    assert words in str(caught.value)


def test_config_refuses_a_token_over_plain_http_to_another_host() -> None:
    rooms = '[[outputs.rooms]]\nroom = "#a:b"\n'
    with pytest.raises(ConfigError, match="homeserver: the access token must not travel in clear text"):
        parse(BASE.replace("https://matrix.example.org", "http://matrix.example.org") + rooms)
    assert parse(BASE.replace("https://matrix.example.org", "http://127.0.0.1:8008") + rooms).homeserver


def test_config_needs_the_token_variable_and_a_user_id() -> None:
    text = BASE.replace('access_token_env = "MATRIX_TOKEN"\n', "") + '[[outputs.rooms]]\nroom = "#a:b"\n'
    with pytest.raises(ConfigError, match="access_token_env"):
        parse(text)
    with pytest.raises(ConfigError, match="user_id: expected a Matrix user id"):
        parse(BASE.replace("@release-bot:example.org", "release-bot") + '[[outputs.rooms]]\nroom = "#a:b"\n')


def test_paths_encode_room_ids_and_txn_ids() -> None:
    path = send_path("!abc:example.org", "release:flatcar/stable/4152.2.2@mx/#r:x")
    assert path == (
        "/_matrix/client/v3/rooms/%21abc%3Aexample.org/send/m.room.message/"
        "release%3Aflatcar%2Fstable%2F4152.2.2%40mx%2F%23r%3Ax"
    )


def test_notice_and_reply_contents() -> None:
    assert notice("a", "<b>a</b>") == {
        "msgtype": "m.notice",
        "body": "a",
        "format": "org.matrix.custom.html",
        "formatted_body": "<b>a</b>",
    }
    assert notice("a", None) == {"msgtype": "m.notice", "body": "a"}
    assert reply("x", to_event="$e")["m.relates_to"] == {"m.in_reply_to": {"event_id": "$e"}}


def test_errors_rate_limit_from_body_or_header() -> None:
    limited = parse_error(429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many", "retry_after_ms": 1500})
    assert limited.rate_limited and limited.retry_after == 1.5 and not limited.permanent
    assert parse_error(429, None, "7").retry_after == 7.0
    assert parse_error(401, {"errcode": "M_UNKNOWN_TOKEN"}).auth
    assert parse_error(400, {"errcode": "M_BAD_JSON"}).permanent
    assert not parse_error(403, {"errcode": "M_FORBIDDEN"}).permanent  # may work after a join
    assert not parse_error(502, "<html>").permanent


def _member(sender: str, own: str) -> dict[str, object]:
    return {"type": "m.room.member", "state_key": own, "sender": sender, "content": {"membership": "invite"}}


EDIT = {"rel_type": "m.replace"}  # an edit of an earlier message


def _message(sender: str, body: str, msgtype: str = "m.text", **content: object) -> dict[str, object]:
    return {
        "type": "m.room.message",
        "sender": sender,
        "event_id": f"${body}",
        "content": {"msgtype": msgtype, "body": body, **content},
    }


SYNC = {
    "next_batch": "s72",
    "rooms": {
        "invite": {
            "!conf:x": {"invite_state": {"events": [_member("@anyone:x", "@bot:x")]}},
            "!friend:x": {"invite_state": {"events": [_member("@ops:x", "@bot:x")]}},
            "!spam:x": {"invite_state": {"events": [_member("@spammer:y", "@bot:x")]}},
        },
        "join": {
            "!conf:x": {
                "timeline": {
                    "events": [
                        _message("@alice:x", "!release stable"),
                        _message("@bot:x", "!release beta"),  # its own
                        _message("@otherbot:x", "!help", "m.notice"),  # a notice: another bot
                        _message(
                            "@alice:x", "!edit", "m.text", **{"m.relates_to": {"rel_type": "m.replace"}}
                        ),
                        {"type": "m.room.encrypted", "sender": "@alice:x", "content": {}},
                    ]
                }
            }
        },
    },
}


def test_sync_invitations_accepted_only_from_configured_rooms_or_users() -> None:
    result = interpret_sync(
        SYNC, own_user="@bot:x", rooms=frozenset({"!conf:x"}), inviters=frozenset({"@ops:x"}), first=False
    )
    assert result.next_batch == "s72"
    assert [j.room for j in result.joins] == ["!conf:x", "!friend:x"]
    assert [(j.room, j.inviter) for j in result.declined] == [("!spam:x", "@spammer:y")]
    assert [(c.room, c.sender, c.body) for c in result.commands] == [
        ("!conf:x", "@alice:x", "!release stable")
    ]


def test_first_sync_answers_no_history() -> None:
    result = interpret_sync(SYNC, own_user="@bot:x", rooms=frozenset(), inviters=frozenset(), first=True)
    assert result.commands == () and result.next_batch == "s72"


def test_command_text_skips_reply_quotes() -> None:
    assert command_text("> <@a:x> hello\n\n!release lts", "!") == "!release lts"
    assert command_text("hello !release", "!") is None
    assert command_text("  !help  \nmore", "!") == "!help"


def test_sync_state_file_per_account_private_and_atomic(tmp_path: Path) -> None:
    from bot.sinks.matrix import read_sync_state, write_sync_state

    path = tmp_path / "state" / "matrix-mx.sync.json"
    assert read_sync_state(path, "@bot:x") is None  # first start
    write_sync_state(path, "@bot:x", "s42_1")
    assert read_sync_state(path, "@bot:x") == "s42_1"
    assert read_sync_state(path, "@other:x") is None  # another account starts afresh
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    path.write_text("{not json", encoding="utf-8")
    assert read_sync_state(path, "@bot:x") is None


def test_rooms_answer_known_commands_and_stay_silent_on_unknown_ones() -> None:
    """The channel manners of IRC in Matrix rooms: `!release` answered as a reply to the asker's
    message, an unknown `!command` (another bot's) not answered at all."""
    import asyncio

    from bot.sinks.matrix import MatrixAccount

    sent: list[tuple[str, str, dict[str, object]]] = []

    class Client:
        async def send(self, room_id: str, txn_id: str, content: dict[str, object]) -> str:
            sent.append((room_id, txn_id, content))
            return "$answer"

    account = MatrixAccount(parse(BASE + '[[outputs.rooms]]\nroom = "#flatcar:example.org"\n'))
    client = Client()
    asyncio.run(account._answer(client, "!r:x", "$q1", "!frobnicate now"))  # type: ignore[arg-type]
    assert sent == []
    asyncio.run(account._answer(client, "!r:x", "$q2", "!help"))  # type: ignore[arg-type]
    assert len(sent) == 1 and sent[0][:2] == ("!r:x", "reply.$q2")

"""Discord's HTTP interactions (pure): requests signed with a real Ed25519 key, forged and stale ones
refused with 401, PING → PONG, slash commands answered like the channel commands."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.chat.discord_interactions import command_definitions, command_line, respond
from bot.commands import StateView, answer
from tests.helpers import SNAPSHOTS, history_snapshot

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
NOW = 1_750_000_000.0
STATE = StateView.of(r for d in history_snapshot(SNAPSHOTS[-1]).documents for r in d.releases)


def signed(
    body: dict[str, object], *, key: Ed25519PrivateKey = KEY, at: float = NOW
) -> tuple[dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    stamp = str(int(at))
    signature = key.sign(stamp.encode() + raw).hex()
    return {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": stamp}, raw


def call(headers: dict[str, str], body: bytes, *, ephemeral: bool = True) -> tuple[int, dict[str, object]]:
    return respond(
        headers=headers, body=body, public_key=PUBLIC, state=lambda: STATE, ephemeral=ephemeral, now=NOW
    )


def test_ping_is_answered_with_pong() -> None:
    assert call(*signed({"type": 1})) == (200, {"type": 1})


def test_release_channel_stable_answered_like_the_channel_command() -> None:
    status, reply = call(
        *signed(
            {
                "type": 2,
                "data": {"name": "release", "options": [{"name": "channel", "type": 3, "value": "stable"}]},
            }
        )
    )
    assert status == 200 and reply["type"] == 4
    data = reply["data"]
    assert isinstance(data, dict)
    assert data["content"] == "\n".join(answer("!release stable", STATE) or [])
    assert "stable" in str(data["content"])
    assert data["flags"] == 64 and data["allowed_mentions"] == {"parse": []}
    _, public = call(*signed({"type": 2, "data": {"name": "help"}}), ephemeral=False)
    assert "flags" not in public["data"]  # type: ignore[operator]


def test_forged_stale_and_unsigned_requests_refused() -> None:
    headers, body = signed({"type": 1})
    assert call(headers, body.replace(b"1", b"2"))[0] == 401  # body changed after signing
    assert call(*signed({"type": 1}, key=Ed25519PrivateKey.generate()))[0] == 401  # another key
    assert call(*signed({"type": 1}, at=NOW - 3600))[0] == 401  # replayed an hour later
    assert call({}, body)[0] == 401
    assert call({**headers, "X-Signature-Ed25519": "zz"}, body)[0] == 401


def test_command_lines_and_definitions() -> None:
    assert (
        command_line({"name": "changes", "options": [{"name": "channel", "value": "beta"}]})
        == "/changes beta"
    )
    assert command_line({"name": "roadmap"}) == "/roadmap"
    names = [c["name"] for c in command_definitions()]
    assert names == ["release", "changes", "deprecations", "roadmap", "cve", "security", "help"]
    assert all(len(str(c["description"])) <= 100 for c in command_definitions())

"""`[[outputs]] kind = "matrix"`: one homeserver account, its rooms each with a routing filter.

Unencrypted rooms only: the bot neither sends nor reads end-to-end encrypted events. The access token
comes from the environment variable named by `access_token_env` (read when connecting, never stored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from bot.config.filters import Filter, parse_filter
from bot.config.table import Table, is_loopback
from bot.paths import data_base

_USER_ID = re.compile(r"^@[a-z0-9._=/+-]+:[A-Za-z0-9.:\[\]-]+$")
_ROOM = re.compile(r"^[!#][^\s:]+:[A-Za-z0-9.:\[\]-]+$")


@dataclass(frozen=True)
class MatrixRoom:
    """A room by id (`!abc:example.org`) or alias (`#flatcar:example.org`), with what it receives."""

    room: str
    filter: Filter


@dataclass(frozen=True, kw_only=True)
class MatrixOutput:
    name: str
    filter: Filter
    kind: Literal["matrix"] = "matrix"
    homeserver: str
    user_id: str
    access_token_env: str
    rooms: tuple[MatrixRoom, ...]
    #: users whose invitations are accepted (invitations into a configured room always are)
    invite_from: tuple[str, ...] = ()
    prefix: str = "!"
    answer_commands: bool = True
    #: where the sync position (`next_batch`) is kept between runs
    sync_state: Path
    timeout: float = 30.0
    #: longest `retry_after_ms` waited out inside one delivery; longer waits leave the message queued
    max_rate_wait: float = 60.0

    def secret_names(self) -> list[tuple[str, str]]:
        return [("access_token_env", self.access_token_env)]


def _room(table: Table, source_names: list[str], inherited: Filter) -> MatrixRoom:
    room = table.string("room")
    if not _ROOM.match(room):
        raise table.error("room", f'expected a room id or alias like "#flatcar:example.org", got {room!r}')
    found = parse_filter(table, source_names)
    result = MatrixRoom(room=room, filter=found if table.has("filter") else inherited)
    table.finish()
    return result


def parse_matrix(
    table: Table, base: Path, *, name: str, source_names: list[str], filter: Filter
) -> MatrixOutput:
    """A Matrix output's keys (the caller checks for unknown keys afterwards)."""
    homeserver = table.url("homeserver").rstrip("/")
    host = urlsplit(homeserver).hostname or ""
    if homeserver.startswith("http://") and not is_loopback(host):
        raise table.error(
            "homeserver",
            "the access token must not travel in clear text: use https:// (http:// only to this machine)",
        )
    user_id = table.string("user_id")
    if not _USER_ID.match(user_id):
        raise table.error(
            "user_id", f'expected a Matrix user id like "@release-bot:example.org", got {user_id!r}'
        )
    token_env = table.env_name("access_token_env")
    if token_env is None:
        raise table.error("access_token_env", "required: the environment variable holding the access token")
    rooms = tuple(_room(t, source_names, filter) for t in table.tables("rooms"))
    if not rooms:
        raise table.error("rooms", 'expected at least one [[outputs.rooms]] with room = "#room:server"')
    invite_from = table.str_list("invite_from")
    for i, user in enumerate(invite_from):
        if not _USER_ID.match(user):
            raise table.error(f"invite_from[{i}]", f"expected a Matrix user id, got {user!r}")
    prefix = table.string("prefix", "!")
    if not prefix or len(prefix) > 5 or any(c.isspace() for c in prefix):
        raise table.error("prefix", f"expected 1-5 characters without spaces, got {prefix!r}")
    return MatrixOutput(
        name=name,
        filter=filter,
        homeserver=homeserver,
        user_id=user_id,
        access_token_env=token_env,
        rooms=rooms,
        invite_from=invite_from,
        prefix=prefix,
        answer_commands=table.boolean("answer_commands", True),
        sync_state=table.path("sync_state", data_base(base), f"state/matrix-{name}.sync.json"),
        timeout=table.duration("timeout", 30.0, minimum=1.0),
        max_rate_wait=table.duration("max_rate_wait", 60.0, minimum=0.0),
    )

"""The Matrix client-server API as data: request paths and bodies, error answers, and what to do with
a `/sync` response. No I/O: `bot.chat.matrix_client` moves the bytes.

Only unencrypted rooms: encrypted events (`m.room.encrypted`) are ignored, never answered.
Spec: https://spec.matrix.org/latest/client-server-api/
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

#: The filter of the first sync (no stored `next_batch`): no history, only the position to start from.
FIRST_SYNC_FILTER = '{"room":{"timeline":{"limit":0}},"presence":{"types":[]},"account_data":{"types":[]}}'
#: The filter of later syncs: room timelines and invitations, nothing else.
SYNC_FILTER = '{"presence":{"types":[]},"account_data":{"types":[]},"room":{"ephemeral":{"types":[]}}}'


def segment(value: str) -> str:
    """One path segment, percent-encoded (room ids hold '!' and ':'; aliases '#')."""
    return quote(value, safe="")


def send_path(room_id: str, txn_id: str) -> str:
    """`PUT` path of a message event: the txnId makes a repeated PUT the same event (idempotent)."""
    return f"/_matrix/client/v3/rooms/{segment(room_id)}/send/m.room.message/{segment(txn_id)}"


def join_path(room: str) -> str:
    return f"/_matrix/client/v3/join/{segment(room)}"


def notice(body: str, html: str | None) -> dict[str, object]:
    """An `m.notice` (bots send notices: other bots do not answer them) with an HTML alternative."""
    content: dict[str, object] = {"msgtype": "m.notice", "body": body}
    if html:
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = html
    return content


def reply(body: str, *, to_event: str) -> dict[str, object]:
    """An answer to a command: a notice in reply to the command's event."""
    return {"msgtype": "m.notice", "body": body, "m.relates_to": {"m.in_reply_to": {"event_id": to_event}}}


@dataclass(frozen=True)
class MatrixError:
    """An error answer: HTTP status, `errcode`, `error`, and `retry_after_ms` in seconds when given."""

    status: int
    errcode: str
    message: str
    retry_after: float | None = None

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.errcode == "M_LIMIT_EXCEEDED"

    @property
    def auth(self) -> bool:
        return self.errcode in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN") or self.status == 401

    @property
    def permanent(self) -> bool:
        """Retrying the same request cannot help (a bad request); 403 may after a join, 5xx later."""
        return self.status in (400, 404, 413) and not self.rate_limited

    def __str__(self) -> str:
        wait = f" (retry after {self.retry_after:g} s)" if self.retry_after is not None else ""
        return f"HTTP {self.status} {self.errcode}: {self.message}{wait}"


def parse_error(status: int, body: object, retry_after_header: str | None = None) -> MatrixError:
    """An error answer; `retry_after_ms` from the body, else the `Retry-After` header (seconds)."""
    data = body if isinstance(body, Mapping) else {}
    errcode = str(data.get("errcode") or "M_UNKNOWN")
    message = str(data.get("error") or "")[:300]
    retry: float | None = None
    ms = data.get("retry_after_ms")
    if isinstance(ms, (int, float)) and not isinstance(ms, bool) and ms >= 0:
        retry = ms / 1000
    elif retry_after_header and retry_after_header.strip().isdigit():
        retry = float(retry_after_header.strip())
    return MatrixError(status, errcode, message, retry)


# -- /sync ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Join:
    """Accept an invitation (or join a configured room)."""

    room: str
    inviter: str


@dataclass(frozen=True)
class Command:
    """A message that may be a command, in a joined room, from someone else."""

    room: str
    event_id: str
    sender: str
    body: str
    #: the message mentions the bot (`m.mentions.user_ids`): it is addressed, like "release-bot: …"
    mentioned: bool = False


@dataclass(frozen=True)
class SyncResult:
    next_batch: str
    joins: tuple[Join, ...]
    commands: tuple[Command, ...]
    declined: tuple[Join, ...]


def _invites(rooms: Mapping[str, object], own: str) -> Iterable[tuple[str, str]]:
    invite = rooms.get("invite")
    for room_id, room in invite.items() if isinstance(invite, Mapping) else ():
        inviter = ""
        state = room.get("invite_state") if isinstance(room, Mapping) else None
        events = state.get("events") if isinstance(state, Mapping) else None
        for event in events if isinstance(events, list) else ():
            if (
                isinstance(event, Mapping)
                and event.get("type") == "m.room.member"
                and event.get("state_key") == own
            ):
                content = event.get("content")
                if isinstance(content, Mapping) and content.get("membership") == "invite":
                    inviter = str(event.get("sender") or "")
        yield str(room_id), inviter


def _messages(rooms: Mapping[str, object], own: str) -> Iterable[Command]:
    joined = rooms.get("join")
    for room_id, room in joined.items() if isinstance(joined, Mapping) else ():
        timeline = room.get("timeline") if isinstance(room, Mapping) else None
        events = timeline.get("events") if isinstance(timeline, Mapping) else None
        for event in events if isinstance(events, list) else ():
            if not isinstance(event, Mapping) or event.get("type") != "m.room.message":
                continue
            content = event.get("content")
            sender = str(event.get("sender") or "")
            if sender == own or not isinstance(content, Mapping):
                continue  # its own messages are never answered
            if content.get("msgtype") != "m.text" or not isinstance(content.get("body"), str):
                continue  # notices (other bots), media, edits without a body
            relates = content.get("m.relates_to")
            if isinstance(relates, Mapping) and relates.get("rel_type") == "m.replace":
                continue  # an edit of an earlier message, not a new command
            mentions = content.get("m.mentions")
            users = mentions.get("user_ids") if isinstance(mentions, Mapping) else None
            mentioned = isinstance(users, list) and own in users
            yield Command(
                str(room_id), str(event.get("event_id") or ""), sender, str(content["body"]), mentioned
            )


def interpret_sync(
    response: Mapping[str, object],
    *,
    own_user: str,
    rooms: frozenset[str],
    inviters: frozenset[str],
    first: bool,
) -> SyncResult:
    """What to do after a `/sync`: invitations to accept (into a configured room — by id — or from an
    allowed user), and messages to consider as commands — none on the first sync (no history is
    answered on first start)."""
    raw = response.get("rooms")
    room_data: Mapping[str, object] = raw if isinstance(raw, Mapping) else {}
    joins: list[Join] = []
    declined: list[Join] = []
    for room_id, inviter in _invites(room_data, own_user):
        (joins if room_id in rooms or inviter in inviters else declined).append(Join(room_id, inviter))
    commands = () if first else tuple(_messages(room_data, own_user))
    return SyncResult(str(response.get("next_batch") or ""), tuple(joins), commands, tuple(declined))


def first_line(body: str) -> str:
    """The first line of a message body that is not a quoted reply fallback ("> <@user> …")."""
    lines = [line for line in body.splitlines() if not line.startswith("> ")]
    return next((line.strip() for line in lines if line.strip()), "")


def command_text(body: str, prefix: str) -> str | None:
    """The command line of a message body (its first line, when it starts with the prefix); quoted
    reply fallbacks are skipped."""
    first = first_line(body)
    return first if first.startswith(prefix) else None

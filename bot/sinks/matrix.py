"""Matrix output: announcements as `m.notice` in rooms, answers to `!release …` in the rooms it is in.

One `[[outputs]] kind = "matrix"` is one homeserver account (`MatrixAccount`); each configured room is
its own sink (`MatrixRoomSink`, named "OUTPUT/ROOM") with its own routing filter, sharing the account:

- delivery is `PUT /rooms/{room}/send/m.room.message/{txnId}` with the outbox message id as txnId: a
  retry after a crash (or after the homeserver went away before answering) is the same event to the
  homeserver, which answers with the event it already has: exactly once.
- `M_LIMIT_EXCEEDED` is waited out (`retry_after_ms`, up to `max_rate_wait`), then sent again; a longer
  wait leaves the message queued (a transient failure); messages are never dropped.
- the sync loop (`/sync` long-poll) keeps its position (`next_batch`) in the `sync_state` file, so a
  restart neither misses nor answers again; the very first start answers no history. It accepts
  invitations into configured rooms or from `invite_from` users, answers commands as IRC does
  (`bot.chat.replies`: the same answers, unknown commands silent unless the bot is addressed, the same
  question in a room answered once within seconds), never its own messages, never notices (other
  bots). Unencrypted rooms only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from pathlib import Path

from bot.chat.matrix_client import MatrixClient, MatrixRequestError
from bot.chat.matrix_protocol import (
    FIRST_SYNC_FILTER,
    SYNC_FILTER,
    MatrixError,
    first_line,
    interpret_sync,
    notice,
    reply,
)
from bot.chat.replies import RoomManners, chat_answer, command_of
from bot.commands import StateView
from bot.config.matrix import MatrixOutput, MatrixRoom
from bot.errors import AuthenticationFailed, DeliveryError
from bot.model import AnyEvent
from bot.presentation.notes import clean_html
from bot.render import Renderer
from bot.sinks.base import BotHooks, Sink
from bot.store import OutboxItem
from bot.text import sanitize

log = logging.getLogger("release-bot.matrix")

#: An answer's size (Matrix allows 64 KiB events; a room wants less)
MAX_REPLY_CHARS = 4000
SYNC_TIMEOUT_MS = 30_000


def read_sync_state(path: Path, user_id: str) -> str | None:
    """The stored `next_batch` of this account, or None (first start, other account, unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("user_id") != user_id:
        return None
    token = data.get("next_batch")
    return token if isinstance(token, str) and token else None


def write_sync_state(path: Path, user_id: str, token: str) -> None:
    """Written atomically (a temporary file renamed over it), readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"user_id": user_id, "next_batch": token}, f)
    os.replace(tmp, path)


class MatrixAccount:
    """One Matrix output: the HTTP client, the rooms (configured → room id) and the sync loop."""

    def __init__(self, output: MatrixOutput) -> None:
        self.output = output
        self.bot: BotHooks | None = None
        self.client: MatrixClient | None = None
        self.room_ids: dict[str, str] = {}
        self._sync_task: asyncio.Task[None] | None = None
        #: set after each handled sync (tests wait on it); made in start, inside the running loop
        self.synced: asyncio.Event | None = None
        self._users = 0
        self.manners = RoomManners()

    def token(self) -> str | None:
        return os.environ.get(self.output.access_token_env) or None

    async def start(self) -> None:
        self._users += 1
        if self.client is not None:
            return
        token = self.token()
        if token is None:
            log.warning(
                "matrix %s: environment variable %s not set", self.output.name, self.output.access_token_env
            )
            return
        self.client = MatrixClient(self.output.homeserver, token, timeout=self.output.timeout)
        for room in self.output.rooms:
            await self.join(room)
        if self.output.answer_commands:
            self.synced = asyncio.Event()
            self._sync_task = asyncio.create_task(self._sync_loop(), name=f"matrix-sync-{self.output.name}")

    async def stop(self) -> None:
        self._users -= 1
        if self._users > 0:
            return
        task, self._sync_task = self._sync_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        client, self.client = self.client, None
        if client is not None:
            await client.aclose()

    async def join(self, room: MatrixRoom) -> str | None:
        """Join a configured room (idempotent); its room id, or None (logged) when that failed."""
        if room.room in self.room_ids:
            return self.room_ids[room.room]
        if self.client is None:
            return None
        try:
            room_id = await self.client.join(room.room)
        except (MatrixRequestError, ConnectionError) as exc:
            log.warning("matrix %s: cannot join %s: %s", self.output.name, room.room, exc)
            return None
        self.room_ids[room.room] = room_id
        log.info("matrix %s: in %s (%s)", self.output.name, room.room, room_id)
        return room_id

    # -- the sync loop ----------------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        delay = 5.0
        while True:
            try:
                await self.sync_once()
                delay = 5.0
            except asyncio.CancelledError:
                raise
            except (MatrixRequestError, ConnectionError) as exc:
                log.warning("matrix %s: sync failed: %s; again in %g s", self.output.name, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 300.0)
            except Exception:
                log.exception("matrix %s: error handling a sync; again in %g s", self.output.name, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 300.0)

    async def sync_once(self) -> None:
        client = self.client
        if client is None:
            return
        output = self.output
        since = read_sync_state(output.sync_state, output.user_id)
        first = since is None
        response = await client.sync(
            since=since,
            filter=FIRST_SYNC_FILTER if first else SYNC_FILTER,
            timeout_ms=0 if first else SYNC_TIMEOUT_MS,
        )
        result = interpret_sync(
            response,
            own_user=output.user_id,
            rooms=frozenset(self.room_ids.values()) | frozenset(r.room for r in output.rooms),
            inviters=frozenset(output.invite_from),
            first=first,
        )
        for invite in result.joins:
            log.info(
                "matrix %s: accepting the invitation of %s to %s", output.name, invite.inviter, invite.room
            )
            with contextlib.suppress(MatrixRequestError, ConnectionError):
                await client.join(invite.room)
        for invite in result.declined:
            log.info(
                "matrix %s: ignoring the invitation of %s to %s", output.name, invite.inviter, invite.room
            )
        for command in result.commands:
            await self._answer(
                client, command.room, command.event_id, command.body, command.sender, command.mentioned
            )
        if result.next_batch:
            write_sync_state(output.sync_state, output.user_id, result.next_batch)
        if self.synced is not None:
            self.synced.set()

    async def _answer(
        self,
        client: MatrixClient,
        room_id: str,
        event_id: str,
        body: str,
        sender: str = "",
        mentioned: bool = False,
    ) -> None:
        """Answer a command as IRC does (`bot.chat.replies`): a known command always; an unknown one
        only when the bot was addressed by name or mention (a room is shared with other bots)."""
        output = self.output
        names = (output.user_id, output.user_id[1:].split(":", 1)[0])
        asked = command_of(first_line(body), prefix=output.prefix, names=names, mentioned=mentioned)
        if asked is None:
            return
        now = time.monotonic()
        if not self.manners.allow(room=room_id, user=sender, line=asked.line, now=now):
            return  # answered a moment ago in this room, or this user asks too often
        state = self.bot.state_view() if self.bot is not None else StateView.of(())
        text = chat_answer(asked, state, prefix=output.prefix, max_chars=MAX_REPLY_CHARS)
        if text is None:
            return
        self.manners.answered(room=room_id, line=asked.line, now=now)
        try:  # the txnId follows the command's event: a sync handled twice answers once
            await client.send(room_id, f"reply.{event_id}", reply(text, to_event=event_id))
        except (MatrixRequestError, ConnectionError) as exc:
            log.warning("matrix %s: cannot answer in %s: %s", self.output.name, room_id, exc)


class MatrixRoomSink(Sink):
    kind = "matrix"

    def __init__(self, config: MatrixOutput, account: MatrixAccount, room: MatrixRoom) -> None:
        super().__init__(config)
        self.account = account
        self.room = room

    def render(self, event: AnyEvent, renderer: Renderer) -> dict[str, object]:
        from bot.presentation.contexts import event_context

        context = event_context(event)
        body = sanitize(renderer.render(f"matrix/{event.kind}.txt.j2", **context))
        html_name = f"matrix/{event.kind}.html.j2"
        html = clean_html(renderer.render(html_name, **context)).strip() if renderer.has(html_name) else ""
        return {"body": body, "html": html}

    def attach(self, bot: BotHooks) -> None:
        self.account.bot = bot

    def ready(self) -> bool:
        return self.account.client is not None

    async def open(self) -> None:
        await self.account.start()

    async def close(self) -> None:
        await self.account.stop()

    async def deliver(self, item: OutboxItem) -> None:
        client = self.account.client
        if client is None:
            raise DeliveryError(
                f"not connected (is {self.account.output.access_token_env} set?)", sink=self.name
            )
        room_id = await self.account.join(self.room)
        if room_id is None:
            raise DeliveryError(f"not in {self.room.room}", sink=self.name)
        content = notice(str(item.payload.get("body", "")), str(item.payload.get("html") or "") or None)
        while True:
            try:
                await client.send(room_id, item.message_id, content)
                return
            except ConnectionError as exc:
                raise DeliveryError(str(exc), sink=self.name) from exc
            except MatrixRequestError as exc:
                self._raise_unless_waitable(exc.error)
                wait = exc.error.retry_after or 1.0
                log.info("matrix %s: rate limited; waiting %g s as the homeserver asks", self.name, wait)
                await asyncio.sleep(wait)

    def _raise_unless_waitable(self, error: MatrixError) -> None:
        if error.auth:
            raise AuthenticationFailed(str(error), sink=self.name)
        if error.rate_limited and (error.retry_after or 1.0) <= self.account.output.max_rate_wait:
            return
        if error.status == 403:
            self.account.room_ids.pop(self.room.room, None)  # kicked or not joined: join again next time
        raise DeliveryError(str(error), sink=self.name, permanent=error.permanent)


def matrix_sinks(output: MatrixOutput) -> list[Sink]:
    """One sink per configured room, sharing one account."""
    import dataclasses

    account = MatrixAccount(output)
    return [
        MatrixRoomSink(
            dataclasses.replace(output, name=f"{output.name}/{room.room}", filter=room.filter), account, room
        )
        for room in output.rooms
    ]


__all__ = ["MatrixAccount", "MatrixRoomSink", "matrix_sinks", "read_sync_state", "write_sync_state"]

"""Helpers shared by the mail tests: configs, a sink wired to a store, real Flatcar events."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.commands import StateView
from bot.config import Config, MailConfig, MailOutput, parse_config
from bot.detect import detect
from bot.model import AnyEvent, Event
from bot.render import Renderer
from bot.sinks.mail import MailSink
from bot.store import OutboxItem, Store, ThreadStart
from tests.helpers import SNAPSHOTS, history_snapshot, known_from, narrow, only

DOCS = {"releases-alpha.json", "releases-beta.json", "releases-stable.json", "releases-lts.json"}
SENDER = "Flatcar release-bot <release-bot@example.org>"
LIST = "flatcar-announce@lists.example.org"


def mail_config(
    tmp_path: Path, *, name: str = "list", sources: list[dict[str, Any]] | None = None, **mail: Any
) -> Config:
    """A config with one flatcar source and one mail output `name` with `mail` keys."""
    output = {"name": name, "kind": "mail", "host": "127.0.0.1", "from": SENDER, "to": LIST, **mail}
    data = {
        "bot": {"state": str(tmp_path / "state.sqlite3")},
        "sources": sources or [{"name": "flatcar", "kind": "flatcar"}],
        "outputs": [output],
    }
    return parse_config(data, path=tmp_path / "config.toml")


def mail_of(config: Config, index: int = 0) -> MailConfig:
    """The mail settings of the config's output number `index` (a mail output)."""
    return narrow(config.outputs[index], MailOutput).mail


def mail_sink(tmp_path: Path, *, name: str = "list", **mail: Any) -> MailSink:
    return MailSink(narrow(mail_config(tmp_path, name=name, **mail).outputs[0], MailOutput))


class StoreHooks:
    """What the Bot gives a sink (BotHooks), over a store: enough for threading."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def state_view(self) -> StateView:
        return StateView.of(self.store.releases())

    def request_delivery(self) -> None:
        pass

    def thread_starts(self, sink: str, *, source: str, major: str) -> list[ThreadStart]:
        return self.store.thread_starts(sink, source=source, major=major)

    def backlog(self, sink: str) -> list[OutboxItem]:
        return self.store.pending(sink, now=datetime(9999, 1, 1, tzinfo=UTC))


def item_for(sink: MailSink, event: AnyEvent, *, created_at: datetime | None = None) -> OutboxItem:
    """An outbox item as the Bot would queue it (rendered at enqueue), without a store."""
    message = sink.format(event, Renderer())
    return OutboxItem(
        id=1,
        event_id=1,
        event_key=event.key,
        sink=sink.name,
        message_id=message.message_id,
        payload=message.payload,
        attempts=0,
        created_at=created_at or datetime(2025, 4, 10, 12, 0, tzinfo=UTC),
    )


def alpha_opening_event() -> Event:
    """The real alpha 4230.0.0 release (2025-01-30), as it was announced: it opens major 4230."""
    snapshot = history_snapshot(SNAPSHOTS[0])
    known = {k: r for k, r in known_from(snapshot).items() if k != ("alpha", "4230.0.0")}
    detection = detect(only(snapshot, "releases-alpha.json"), known, baselined_documents=DOCS)
    (event,) = detection.events
    return event


def history_events() -> list[tuple[str, list[Event]]]:
    """(name, events) of alpha 4230.0.0 and each consecutive pair of the real history snapshots."""
    out = [("2025-01-30_alpha-4230.0.0", [alpha_opening_event()])]
    for before, after in itertools.pairwise(SNAPSHOTS):
        detection = detect(
            history_snapshot(after), known_from(history_snapshot(before)), baselined_documents=DOCS
        )
        out.append((f"{before[:10]}_to_{after[:10]}", list(detection.events)))
    return out


def keep_logging() -> Any:
    """A fixture body: `cli.main` points the root logger at the (captured) stderr of the moment;
    put the handlers back so later tests do not log into a closed capture stream."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)

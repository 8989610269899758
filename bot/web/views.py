"""What the HTTP routes show, as plain data: releases as JSON objects, the health of each source and
output (the verdict of `bot.health`, as `status --check` gives it), the live connection state of each
output. Shared by the JSON API, /readyz, /metrics and the status page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.channels import stream_label, stream_sort_key
from bot.commands import current_by_stream
from bot.config import Config
from bot.health import SourceHealth, verdict
from bot.health_state import health, limits, output_health
from bot.model import Release
from bot.presentation.contexts import key_packages
from bot.store import StateStore

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.commands import StateView

__all__ = [
    "OutputView",
    "SourceView",
    "heads",
    "iso",
    "output_views",
    "readiness",
    "release_json",
    "source_views",
]


def iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z") if when is not None else None


def release_json(release: Release, *, full: bool = False) -> dict[str, Any]:
    """A release as the API returns it; `full` adds every package (not only the key ones)."""
    out: dict[str, Any] = {
        "project": release.project,
        "source": release.source,
        "channel": release.channel,
        "stream": release.stream,
        "label": stream_label(release.channel, release.stream),
        "version": release.version,
        "published": iso(release.published),
        "link": release.link,
        "packages": dict(key_packages(release.packages)),
    }
    if full:
        out["all_packages"] = dict(sorted(release.packages.items()))
    return out


def heads(state: StateView) -> list[Release]:
    """The current release of every (project, stream), as `!release` lists them."""
    current = current_by_stream(state)
    return [r for _, r in sorted(current.items(), key=lambda kv: (kv[0][0], stream_sort_key(kv[0][1])))]


@dataclass(frozen=True)
class SourceView:
    name: str
    kind: str
    state: str  # "ok" or "degraded"
    reasons: tuple[str, ...]
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    error_streak: int

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "reasons": list(self.reasons),
            "last_attempt_at": iso(self.last_attempt_at),
            "last_success_at": iso(self.last_success_at),
            "last_error": self.last_error,
            "error_streak": self.error_streak,
        }


@dataclass(frozen=True)
class OutputView:
    name: str
    kind: str
    state: str  # "ok" or "degraded"
    reasons: tuple[str, ...]
    queued: int
    failed: int
    oldest_queued_at: datetime | None
    connected: bool | None  # None: the output has no connection of its own (console, mbox, mail)

    def as_json(self, now: datetime) -> dict[str, Any]:
        oldest = self.oldest_queued_at
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "reasons": list(self.reasons),
            "queued": self.queued,
            "failed": self.failed,
            "oldest_queued_at": iso(oldest),
            "oldest_queued_age_seconds": round((now - oldest).total_seconds(), 3) if oldest else None,
            "connected": self.connected,
        }


def source_views(config: Config, store: StateStore, *, now: datetime) -> list[SourceView]:
    out = []
    for source in config.sources:
        status = store.source_status(source.name)
        alone = verdict(
            [SourceHealth(source.name, source.interval, status)], [], now=now, limits=limits(config)
        )
        out.append(
            SourceView(
                name=source.name,
                kind=source.kind,
                state="ok" if alone.state == "healthy" else "degraded",
                reasons=alone.reasons,
                last_attempt_at=status.last_attempt_at if status else None,
                last_success_at=status.last_success_at if status else None,
                last_error=status.last_error if status else None,
                error_streak=status.error_streak if status else 0,
            )
        )
    return out


def _connected(bot: Bot | None, output: str) -> bool | None:
    """An IRC output's connection state (None for outputs without a standing connection)."""
    if bot is None:
        return None
    for sink in bot.sinks:
        network: Any = getattr(sink, "network", None)
        if sink.group == output and sink.kind == "irc" and network is not None:
            client = network.client
            return client is not None and client.session is not None and bool(client.connected)
    return None


def output_views(
    config: Config, store: StateStore, *, bot: Bot | None = None, now: datetime | None = None
) -> list[OutputView]:
    now = now or datetime.now(UTC)
    out = []
    for output, h in zip(config.outputs, output_health(config, store), strict=True):
        alone = verdict([], [h], now=now, limits=limits(config))
        out.append(
            OutputView(
                name=output.name,
                kind=output.kind,
                state="ok" if alone.state == "healthy" else "degraded",
                reasons=alone.reasons,
                queued=h.queued,
                failed=h.failed,
                oldest_queued_at=h.oldest_queued_at,
                connected=_connected(bot, output.name),
            )
        )
    return out


def readiness(bot: Bot, *, now: datetime | None = None) -> tuple[int, dict[str, Any]]:
    """/readyz: (HTTP status, body). 200 when the verdict of `status --check` is healthy, else 503."""
    now = now or datetime.now(UTC)
    config, store = bot.config, bot.store
    result = health(config, store, now=now)
    sources: Sequence[SourceView] = source_views(config, store, now=now)
    outputs = output_views(config, store, bot=bot, now=now)
    body = {
        "status": result.state,
        "reasons": list(result.reasons),
        "checked_at": iso(now),
        "sources": [s.as_json() for s in sources],
        "outputs": [o.as_json(now) for o in outputs],
    }
    return (200 if result.state == "healthy" else 503), body

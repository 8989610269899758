"""`release-bot status`: what the state says, for people (default), scripts (`--json`) and health
checks (`--check`: the verdict of `bot.health`, exit 0 healthy, 1 degraded, 2 unusable).

The state is opened read-only: `status` works beside a running daemon and on a state file this user
may not write. The per-output lines are `output_lines` (other output kinds add their details there).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from bot.config import Config
from bot.errors import BotError
from bot.health import Verdict, unusable
from bot.health_state import health, outbox_totals, output_health
from bot.store import StateStore

__all__ = ["cmd_status", "health", "output_lines", "source_lines"]


def _ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    seconds = (datetime.now(UTC) - when).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{when:%Y-%m-%d %H:%M:%S}Z ({seconds / size:.0f} {unit} ago)"
    return f"{when:%Y-%m-%d %H:%M:%S}Z ({seconds:.0f} s ago)"


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


_counts = outbox_totals


def source_lines(config: Config, store: StateStore) -> list[str]:
    from bot.sources import kind_of

    lines: list[str] = []
    for source in config.sources:
        status = store.source_status(source.name)
        if kind_of(source).roadmap:
            items = store.roadmap_items(source.name, present_only=True)
            lines.append(f"source {source.name}: {len(items)} roadmap items listed")
        else:
            known = len(store.known_releases(source.name))
            notices = len(store.notices(source.name))
            extra = f", {notices} deprecation notices" if notices else ""
            lines.append(f"source {source.name}: {known} releases known{extra}")
        if status is None:
            lines.append("  never polled")
            continue
        lines.append(f"  last fetch:   {_ago(status.last_attempt_at)}")
        lines.append(f"  last success: {_ago(status.last_success_at)}")
        lines.append(f"  last change:  {_ago(status.last_change_at)}")
        if status.last_error:
            lines.append(
                f"  last error:   {status.last_error} ({status.error_streak} failure(s) in a row, "
                f"{_ago(status.last_error_at)})"
            )
        else:
            lines.append("  last error:   none")
    return lines


def output_lines(config: Config, store: StateStore) -> list[str]:
    """Per output: queued, delivered, failed; per sink of it (IRC channels); the last errors; then
    what each kind adds (mail digests)."""
    from bot.delivercli import queue_status_lines
    from bot.digest import status_lines

    lines: list[str] = []
    for output in config.outputs:
        c, counts = _counts(store, output.name)
        lines.append(
            f"output {output.name} ({output.kind}): {c['queued']} queued, "
            f"{c['delivered']} delivered, {c['failed']} failed permanently"
        )
        for name in sorted(n for n in counts if n != output.name):
            s = counts[name]
            lines.append(
                f"  {name}: {s.get('queued', 0)} queued, {s.get('delivered', 0)} delivered, "
                f"{s.get('failed', 0)} failed permanently"
            )
    for sink, key, state, error in store.outbox_errors():
        lines.append(f"  {sink} {key} [{state}]: {error}")
    lines.extend(queue_status_lines(config, store))
    lines.extend(status_lines(config, store))
    return lines


def as_json(config: Config, store: StateStore, result: Verdict) -> dict[str, Any]:
    sources = []
    for source in config.sources:
        status = store.source_status(source.name)
        sources.append(
            {
                "name": source.name,
                "kind": source.kind,
                "interval": source.interval,
                "last_attempt_at": _iso(status.last_attempt_at) if status else None,
                "last_success_at": _iso(status.last_success_at) if status else None,
                "last_change_at": _iso(status.last_change_at) if status else None,
                "last_error": status.last_error if status else None,
                "last_error_at": _iso(status.last_error_at) if status else None,
                "error_streak": status.error_streak if status else 0,
            }
        )
    outputs = []
    for output, h in zip(config.outputs, output_health(config, store), strict=True):
        totals, sinks = _counts(store, output.name)
        outputs.append(
            {
                "name": output.name,
                "kind": output.kind,
                **totals,
                "oldest_queued_at": _iso(h.oldest_queued_at),
                "sinks": {name: dict(c) for name, c in sorted(sinks.items())},
            }
        )
    return {
        "state": config.state_label,
        "schema": store.schema_version,
        "state_size": store.state_size(),
        "health": result.as_dict(),
        "sources": sources,
        "outputs": outputs,
    }


def _print_verdict(result: Verdict) -> None:
    print(result.state)
    for reason in result.reasons:
        print(f"  {reason}")


def cmd_status(args: argparse.Namespace) -> int:
    from bot.cli.state import open_readonly_state, state_exists
    from bot.cli.verbs import load

    check, as_data = getattr(args, "check", False), getattr(args, "json", False)
    try:
        config = load(args)
        if not state_exists(config):
            raise BotError(f"no state yet at {config.state}: the bot has not run")
        store = open_readonly_state(config)
    except BotError as exc:
        if not (check or as_data):
            raise
        result = unusable(str(exc))
        if as_data:
            print(json.dumps({"health": result.as_dict()}, indent=2))
        else:
            _print_verdict(result)
        return result.code
    with store:
        result = health(config, store)
        if check:
            _print_verdict(result)
            return result.code
        if as_data:
            print(json.dumps(as_json(config, store, result), indent=2))
            return 0
        from bot.store import describe_size

        size = describe_size(store.state_size())
        print(f"state: {config.state_label} (schema {store.schema_version}); {size}")
        from bot.coordination import holder_lines

        for line in holder_lines(store):  # PostgreSQL: which instance holds what
            print(line)
        for line in [*source_lines(config, store), *output_lines(config, store)]:
            print(line)
        print(f"health: {result.state}" + "".join(f"\n  {r}" for r in result.reasons))
    sys.stdout.flush()
    return 0

"""`release-bot preview SOURCE`: what would be announced from a source's current data.

Fetch (without validators) → `plan_poll` against the stored state, read-only → print what every
output would get. Writes nothing, sends nothing.
"""

from __future__ import annotations

import json

from bot.app import http_fetcher
from bot.config import Config
from bot.errors import BotError
from bot.model import AnyEvent
from bot.pipeline import Known, PollPlan, plan_poll
from bot.presentation import Renderer
from bot.recording import load_known
from bot.sinks import build_sinks
from bot.sources import fetch_source, kind_of
from bot.store import OutboxMessage, Store
from bot.store.backend import open_state


async def preview(config: Config, source_name: str, *, last: int = 1) -> list[str]:
    source = config.source(source_name)
    roadmap = kind_of(source).roadmap
    async with http_fetcher(config) as fetcher:
        fetched = await fetch_source(fetcher, source, {})
    if fetched.errors and not roadmap:
        # a release document that cannot be read would make the preview announce a partial picture
        raise BotError("; ".join(fetched.errors))
    lines = [f"# {error}" for error in fetched.errors]
    if fetched.rate_limited:
        lines.append(f"# {fetched.rate_limited}")
    known = Known()
    if config.database is not None or config.state.exists():
        with (
            open_state(config, migrate=False) if config.database is not None else Store(config.state) as store
        ):
            known = load_known(store, source.name, roadmap=roadmap)
    renderer = Renderer(override_dir=config.templates)
    sinks = build_sinks(config.outputs)

    def render(event: AnyEvent) -> list[OutboxMessage]:
        return [
            OutboxMessage(sink=s.name, message_id="", payload=s.render(event, renderer))
            for s in sinks
            if s.wants(event)
        ]

    plan = plan_poll(source, fetched, known, render=render, announce_on_baseline=0)
    what = "roadmap change(s)" if roadmap else "new event(s)"
    if plan.events:
        lines.append(f"# {len(plan.events)} {what} since the stored state would be announced:")
    else:
        plan = plan_poll(source, fetched, Known(), render=render, announce_on_baseline=last)
        newest = (
            f"the {last} most recently updated item(s)"
            if roadmap
            else f"the newest {last} release(s) per document"
        )
        lines.append(f"# nothing new against the stored state; {newest} would be announced like this:")
    return lines + _printed(plan, [(sink.name, sink.kind) for sink in sinks])


def _printed(plan: PollPlan, sinks: list[tuple[str, str]]) -> list[str]:
    """Each output's messages, output by output."""
    if plan.render_failed:
        return [f"# {plan.error}"]
    lines: list[str] = []
    for name, kind in sinks:
        for event, message in ((e, m) for e, ms in plan.messages for m in ms if m.sink == name):
            lines.append(f"## {name} ({kind}) — {event.key}")
            for key, value in message.payload.items():
                text = value if isinstance(value, str) else json.dumps(value)
                lines.append(f"{key}: {text}" if "\n" not in text else f"{key}:\n{text}")
    return lines

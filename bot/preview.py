"""`release-bot preview SOURCE`: what would be announced from a source's current data.

Fetches without validators, compares with the stored state read-only, renders for every output —
and writes nothing, sends nothing.
"""

from __future__ import annotations

import asyncio
import json

from bot import __version__
from bot.app import parse_document
from bot.config import Config
from bot.detect import detect
from bot.model import Document, Release, Snapshot
from bot.render import Renderer
from bot.sinks import build_sinks
from bot.sources.http import HttpFetcher
from bot.store import Store


async def preview(config: Config, source_name: str, *, last: int = 1) -> list[str]:
    source = config.source(source_name)
    documents: list[Document] = []
    async with HttpFetcher(
        user_agent=config.http.user_agent.format(version=__version__),
        timeout=config.http.timeout,
        max_bytes=config.http.max_bytes,
    ) as fetcher:
        for name, url in source.documents():
            result = await fetcher.fetch(url, source=source.name)
            assert result.body is not None
            document, _warnings = await asyncio.to_thread(parse_document, source, name, url, result.body)
            documents.append(document)
    snapshot = Snapshot(source.name, tuple(documents))
    known: dict[tuple[str, str], Release] = {}
    baselined: set[str] = set()
    if config.state.exists():
        with Store(config.state) as store:
            known = store.known_releases(source.name)
            baselined = set(store.documents(source.name))
    lines: list[str] = []
    events = detect(snapshot, known, baselined_documents=baselined, announce_on_baseline=0).events
    if events:
        lines.append(f"# {len(events)} new event(s) since the stored state would be announced:")
    else:
        events = detect(snapshot, {}, baselined_documents=(), announce_on_baseline=last).events
        lines.append(
            f"# nothing new against the stored state; the newest {last} release(s) per document "
            "would be announced like this:"
        )
    renderer = Renderer(override_dir=config.templates)
    for sink in build_sinks(config.outputs):
        for event in events:
            if not sink.wants(event):
                continue
            payload = sink.render(event, renderer)
            lines.append(f"## {sink.name} ({sink.kind}) — {event.key}")
            for key, value in payload.items():
                text = value if isinstance(value, str) else json.dumps(value)
                lines.append(f"{key}: {text}" if "\n" not in text else f"{key}:\n{text}")
    return lines

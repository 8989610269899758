"""`release-bot preview SOURCE`: what would be announced from a source's current data.

Fetches without validators, compares with the stored state read-only, renders for every output —
and writes nothing, sends nothing.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

from bot import __version__
from bot.app import parse_document
from bot.config import Config, RoadmapSource
from bot.deprecations import detect_deprecations
from bot.detect import detect
from bot.model import AnyEvent, Document, Notice, Release, RoadmapItem, Snapshot
from bot.render import Renderer
from bot.roadmap import detect_roadmap
from bot.sinks import build_sinks
from bot.sources.github import fetch_roadmap
from bot.sources.http import HttpFetcher
from bot.store import Store


async def preview(config: Config, source_name: str, *, last: int = 1) -> list[str]:
    source = config.source(source_name)
    if isinstance(source, RoadmapSource):
        return await _preview_roadmap(config, source, last=last)
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
    notices: list[Notice] = []
    reached: set[tuple[str, str]] = set()
    if config.state.exists():
        with Store(config.state) as store:
            known = store.known_releases(source.name)
            baselined = set(store.documents(source.name))
            notices = store.notices(source.name)
            reached = {(r.notice_id, r.channel) for r in store.reaches(source.name)}
    lines: list[str] = []
    detection = detect(snapshot, known, baselined_documents=baselined, announce_on_baseline=0)
    fresh = bool(detection.events)
    if not fresh:
        notices, reached = [], set()
        detection = detect(snapshot, {}, baselined_documents=(), announce_on_baseline=last)
    events: list[AnyEvent] = list(detection.events)
    if source.kind == "flatcar":  # and the deprecation notices those releases bring or move
        announced = {(e.release.stream, e.release.version) for e in detection.events}
        flags = [(r, (r.stream, r.version) in announced) for r in detection.new]
        events += detect_deprecations(flags, notices, reached).events
    if fresh:
        lines.append(f"# {len(events)} new event(s) since the stored state would be announced:")
    else:
        lines.append(
            f"# nothing new against the stored state; the newest {last} release(s) per document "
            "would be announced like this:"
        )
    return lines + _rendered(config, events)


async def _preview_roadmap(config: Config, source: RoadmapSource, *, last: int) -> list[str]:
    async with HttpFetcher(
        user_agent=config.http.user_agent.format(version=__version__),
        timeout=config.http.timeout,
        max_bytes=config.http.max_bytes,
    ) as fetcher:
        fetched = await fetch_roadmap(fetcher, source, {})
    lines = [f"# {error}" for error in fetched.errors]
    if fetched.rate_limited:
        lines.append(f"# {fetched.rate_limited}")
    known: dict[str, RoadmapItem] = {}
    baselines: dict[str, datetime | None] = {}
    notice_ids: set[str] = set()
    if config.state.exists():
        with Store(config.state) as store:
            known = {i.id: i for i in store.roadmap_items(source.name)}
            baselines = store.document_baselines(source.name)
            notice_ids = {n.id for n in store.notices(source.name)}
    detection = detect_roadmap(
        fetched.documents,
        known,
        baselined_documents=baselines,
        known_notices=notice_ids,
        statuses=source.statuses,
        deprecation_labels=source.deprecation_labels,
    )
    if detection.events:
        lines.append(
            f"# {len(detection.events)} roadmap change(s) since the stored state would be announced:"
        )
    else:
        detection = detect_roadmap(
            fetched.documents,
            {},
            baselined_documents={},
            announce_on_baseline=last,
            statuses=source.statuses,
            deprecation_labels=source.deprecation_labels,
        )
        lines.append(
            f"# nothing new against the stored state; the {last} most recently updated item(s) would be "
            "announced like this:"
        )
    return lines + _rendered(config, list(detection.events))


def _rendered(config: Config, events: list[AnyEvent]) -> list[str]:
    lines: list[str] = []
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

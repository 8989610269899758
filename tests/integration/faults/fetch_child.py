"""One fetch (and parse) of a hostile URL, then one of a control URL with the same fetcher, in a process
of its own so that its peak RSS is this case's alone. Prints one JSON object.

Usage: python fetch_child.py '{"url": ..., "control": ..., "parse": "json"|"feed"|null, ...}'
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from typing import Any

from bot.errors import SourceError
from bot.sources.feed import parse_feed
from bot.sources.flatcar import parse_releases_json
from bot.sources.http import HttpFetcher


def parse(kind: str | None, body: bytes, url: str) -> str:
    """The parsed text (titles and notes), to look for leaked content."""
    if kind == "json":
        doc = parse_releases_json(
            body, source="hostile", project="P", url=url, doc_name="releases-stable.json"
        )
    elif kind == "feed":
        doc = parse_feed(body, source="hostile", project="P", stream="main", url=url).document
    else:
        return ""
    return "\n".join(f"{r.version} {r.title} {r.notes}" for r in doc.releases)


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"error": None, "text": "", "control_ok": None}
    async with HttpFetcher(
        user_agent="release-bot-faults",
        timeout=spec.get("timeout", 5.0),
        max_bytes=spec.get("max_bytes", 16 << 20),
    ) as fetcher:
        try:
            result = await fetcher.fetch(spec["url"], source="hostile")
            out["text"] = parse(spec.get("parse"), result.body or b"", result.url)[:2000]
        except SourceError as exc:
            out["error"] = str(exc)
        if spec.get("control"):
            control = await fetcher.fetch(spec["control"], source="control")
            out["control_ok"] = bool(parse("json", control.body or b"", control.url))
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))

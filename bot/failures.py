"""One short line per failed poll: the cause once, not once per document. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["summarise_errors"]

_ERROR = re.compile(r"^source '(?P<name>[^']*)'(?: \((?P<url>[^)]*)\))?: (?P<detail>.*)$", re.S)
_SPLIT = re.compile(r"; (?=source ')")
MAX_CHARS = 300


def summarise_errors(source: str, errors: Sequence[str] | str) -> str:
    """`source flatcar: connection failed: … (4 documents, e.g. http://…/releases-alpha.json)` from
    the per-document errors (or their "; "-joined form), at most MAX_CHARS long."""
    items = _SPLIT.split(errors) if isinstance(errors, str) else list(errors)
    causes: dict[str, list[str]] = {}
    for item in items:
        match = _ERROR.match(item.strip())
        detail = match.group("detail") if match else item.strip()
        url = (match.group("url") or "") if match else ""
        causes.setdefault(detail, []).append(url)
    parts = []
    for detail, urls in causes.items():
        where = [u for u in urls if u]
        if len(urls) > 1:
            detail += f" ({len(urls)} documents" + (f", e.g. {where[0]})" if where else ")")
        elif where:
            detail += f" ({where[0]})"
        parts.append(detail)
    line = f"source {source}: " + "; ".join(parts)
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…"

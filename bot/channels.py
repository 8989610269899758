"""Flatcar's release channels in one place: the ladder, LTS streams, ordering and labels. Pure.

A major version moves alpha N.0.x → beta N.1.x → stable N.2.x → LTS N.3.x. LTS streams share the
channel `lts` and are named `lts-YYYY` (from the `current-YYYY` pointers of the releases JSON).
Everything in the bot that orders or names channels and streams asks this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: The promotion ladder, oldest stage first.
LADDER: tuple[str, ...] = ("alpha", "beta", "stable", "lts")

#: Channels a Flatcar source may be configured to watch (`edge` is historical but still served).
FLATCAR_CHANNELS: tuple[str, ...] = (*LADDER, "edge")

#: The channels a Flatcar source watches unless told otherwise.
DEFAULT_CHANNELS: tuple[str, ...] = LADDER

_LTS_STREAM = re.compile(r"^lts-(\d{4})$")


def is_lts_stream(stream: str) -> bool:
    """`lts-2024` (a named LTS stream) — not the bare channel `lts`."""
    return _LTS_STREAM.match(stream) is not None


def lts_year(stream: str) -> int | None:
    """2024 for `lts-2024`, None for anything else."""
    match = _LTS_STREAM.match(stream)
    return int(match.group(1)) if match else None


def lts_stream(year: int | str) -> str:
    """The stream name of an LTS year: `lts-2024`."""
    return f"lts-{year}"


def channel_of(stream: str) -> str:
    """The channel a stream belongs to: `lts` for `lts-2024`, the stream itself otherwise."""
    return "lts" if stream == "lts" or is_lts_stream(stream) else stream


def rank(channel: str) -> int:
    """Position on the ladder; channels off the ladder sort after it."""
    return LADDER.index(channel) if channel in LADDER else len(LADDER)


def later_channels(channel: str) -> tuple[str, ...]:
    """The stages after `channel` on the ladder (empty for channels off the ladder)."""
    return LADDER[LADDER.index(channel) + 1 :] if channel in LADDER else ()


def stream_order(channel: str, stream: str) -> tuple[int, int, str]:
    """Sort key: alpha, beta, stable, then LTS streams newest year first, then others by name.

    The bare `lts` stream (a release not yet attributed to a year) sorts after every named one.
    """
    year = lts_year(stream)
    if channel in LADDER:
        if channel == "lts":
            return (rank(channel), -(year if year is not None else 0), stream)
        return (rank(channel), 0, stream)
    return (len(LADDER), 0, f"{channel}/{stream}")


def stream_sort_key(stream: str) -> tuple[int, int, str]:
    """Sort key of a stream name alone (its channel derived from it)."""
    return stream_order(channel_of(stream), stream)


def stream_label(channel: str, stream: str) -> str:
    """How people name a stream: 'stable', 'LTS-2024', 'LTS', or a feed's stream name."""
    year = lts_year(stream)
    if year is not None:
        return f"LTS-{year}"
    if stream == "lts":
        return "LTS"
    return channel


def channel_label(channel: str) -> str:
    """How people name a channel in prose: 'LTS' for `lts`, the name otherwise."""
    return "LTS" if channel == "lts" else channel


# -- LTS stream lifecycle -------------------------------------------------------------------------

#: An LTS stream with no release for this many days, while a newer LTS stream exists, is past its end
#: of life (Flatcar supports an LTS stream for about 18 months after the next one starts).
LTS_EOL_AFTER_DAYS = 180

_EOL_WORDS = re.compile(
    r"\b(end[- ]of[- ]life|EOL|end of support|no longer (?:supported|maintained))\b", re.I
)
_LTS_NAMED = re.compile(r"\bLTS[- ]?(\d{4})\b", re.I)


def eol_from_notice(text: str) -> set[str]:
    """The LTS streams an end-of-life notice names in the clause that says end of life: `lts-2022` for
    "LTS-2022 reaches end of life; move to LTS-2024"."""
    out: set[str] = set()
    for clause in re.split(r"[;.!?\n]\s|[;\n]", text):
        if _EOL_WORDS.search(clause):
            out |= {lts_stream(year) for year in _LTS_NAMED.findall(clause)}
    return out


def end_of_life_streams(
    newest: Mapping[str, float | None],
    *,
    now: float | None,
    eol_after_days: float | None = LTS_EOL_AFTER_DAYS,
    live: frozenset[str] | None = None,
    notices: tuple[str, ...] = (),
) -> frozenset[str]:
    """The LTS streams past their end of life, from the data alone.

    `newest`: LTS stream → timestamp (seconds) of its newest release (None: unknown). A stream is past
    its end of life when the source no longer points at it (`live`: the `lts-YYYY` streams its
    `current-YYYY` pointers name, None when unknown), when an end-of-life notice (`notices`, the
    deprecation extractor's texts) names it, or when it had no release for `eol_after_days` before
    `now` while a newer LTS stream exists. The newest LTS stream is never retired by age alone.
    """
    streams = [s for s in newest if is_lts_stream(s)]
    if not streams:
        return frozenset()
    youngest = max(streams, key=lambda s: lts_year(s) or 0)
    out: set[str] = set()
    if live is not None:
        out |= {s for s in streams if s not in live}
    for text in notices:
        out |= {s for s in eol_from_notice(text) if s in streams}
    if now is not None and eol_after_days is not None:
        limit = now - eol_after_days * 86400.0
        for stream in streams:
            stamp = newest[stream]
            if stream != youngest and stamp is not None and stamp < limit:
                out.add(stream)
    return frozenset(out)

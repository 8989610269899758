"""Flatcar's release channels in one place: the ladder, LTS streams, ordering and labels. Pure.

A major version moves alpha N.0.x → beta N.1.x → stable N.2.x → LTS N.3.x. LTS streams share the
channel `lts` and are named `lts-YYYY` (from the `current-YYYY` pointers of the releases JSON).
Everything in the bot that orders or names channels and streams asks this module.
"""

from __future__ import annotations

import re

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

"""The events of the poll being rendered, so that a sink can see an event's companions: a release's
mail carries the deprecation notices that arrive with it (`bot.presentation.mailcontext`).

`rendering(events)` is entered by `bot.pipeline.render_plan` around the rendering of one poll;
`current()` is what sinks read (empty outside it: `check-config`, a preview of one event)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from bot.model import AnyEvent

_BATCH: ContextVar[tuple[AnyEvent, ...]] = ContextVar("release_bot_render_batch", default=())


@contextmanager
def rendering(events: Iterable[AnyEvent]) -> Iterator[None]:
    token = _BATCH.set(tuple(events))
    try:
        yield
    finally:
        _BATCH.reset(token)


def current() -> tuple[AnyEvent, ...]:
    return _BATCH.get()

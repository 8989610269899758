"""Presentation, together: what templates see (contexts), the sandboxed Jinja2 environment
(`Renderer`), the one-line announcement, and each message's stable Message-ID."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.presentation.contexts import deprecation_context, event_context, key_packages, roadmap_context
    from bot.presentation.ids import message_id
    from bot.presentation.render import DEFAULT_TEMPLATE_DIR, Renderer, irc_line
    from bot.presentation.samples import sample_events, sample_plan_events, sample_summary

#: name -> the module that defines it, imported when the name is first asked for: `release-bot query`
#: needs only `key_packages`, a `once` with nothing new needs only `Renderer` (and Jinja2 itself is
#: imported when something renders, by `bot.presentation.engine`)
_MODULES = {
    "deprecation_context": "contexts",
    "event_context": "contexts",
    "key_packages": "contexts",
    "roadmap_context": "contexts",
    "message_id": "ids",
    "DEFAULT_TEMPLATE_DIR": "render",
    "Renderer": "render",
    "irc_line": "render",
    "sample_events": "samples",
    "sample_plan_events": "samples",
    "sample_summary": "samples",
}


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"bot.presentation.{module}"), name)


__all__ = [
    "DEFAULT_TEMPLATE_DIR",
    "Renderer",
    "deprecation_context",
    "event_context",
    "irc_line",
    "key_packages",
    "message_id",
    "roadmap_context",
    "sample_events",
    "sample_plan_events",
    "sample_summary",
]

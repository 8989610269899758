"""Presentation, together: what templates see (contexts), the sandboxed Jinja2 environment
(`Renderer`), the one-line announcement, and each message's stable Message-ID."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.presentation.contexts import deprecation_context, event_context, key_packages, roadmap_context
from bot.presentation.ids import message_id
from bot.presentation.samples import sample_events, sample_plan_events, sample_summary

if TYPE_CHECKING:
    from bot.presentation.render import DEFAULT_TEMPLATE_DIR, Renderer, irc_line


def __getattr__(name: str) -> object:
    # the renderer's module when asked for (`release-bot query` only needs `key_packages`); Jinja2
    # itself when something renders (`bot.presentation.engine`)
    if name in ("DEFAULT_TEMPLATE_DIR", "Renderer", "irc_line"):
        from bot.presentation import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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

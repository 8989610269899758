"""Moved to `bot.presentation` (contexts, ids, samples); this name stays so existing importers keep
working."""

from bot.presentation.contexts import deprecation_context, event_context, key_packages, roadmap_context
from bot.presentation.ids import message_id
from bot.presentation.samples import sample_events, sample_plan_events, sample_summary

__all__ = [
    "deprecation_context",
    "event_context",
    "key_packages",
    "message_id",
    "roadmap_context",
    "sample_events",
    "sample_plan_events",
    "sample_summary",
]

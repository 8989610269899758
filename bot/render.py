"""Moved to `bot.presentation.render`; this name stays so existing importers keep working."""

from bot.presentation.render import DEFAULT_TEMPLATE_DIR, Renderer, irc_line

__all__ = ["DEFAULT_TEMPLATE_DIR", "Renderer", "irc_line"]

"""Rendering of announcements from template files in a Jinja2 sandbox; an operator's directory wins.

`Renderer` is what the rest of the bot holds; the Jinja2 environment behind it
(`bot.presentation.engine`) is built when a template is first rendered or looked up, so a process
that renders nothing (a `once` where every feed answered 304) does not import Jinja2.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from bot.model import AnyEvent
from bot.text import sanitize

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    import jinja2

    from bot.presentation.engine import Templates

__all__ = ["DEFAULT_TEMPLATE_DIR", "Renderer", "irc_line"]


def _default_template_dir() -> Path | Traversable:
    """The source checkout's top-level templates/ folder (the one operators read and copy), else the
    copy the wheel carries as package data (bot/templates), found through importlib.resources."""
    checkout = Path(__file__).resolve().parent.parent.parent / "templates"
    if checkout.is_dir() and (checkout.parent / "pyproject.toml").is_file():
        return checkout
    import importlib.resources

    return importlib.resources.files("bot") / "templates"


#: The repository's top-level templates/ folder, or the copy packaged at bot/templates (a Path when
#: the package is installed as files, which pip always does; another Traversable from a zip).
DEFAULT_TEMPLATE_DIR: Path | Traversable = _default_template_dir()


class Renderer:
    """Renders named templates. `override_dir` (an operator's) is searched before `template_dir`."""

    def __init__(
        self, *, override_dir: Path | None = None, template_dir: Path | Traversable | None = None
    ) -> None:
        self.template_dir = DEFAULT_TEMPLATE_DIR if template_dir is None else template_dir
        self.override_dir = Path(override_dir) if override_dir is not None else None
        self._search_dirs = [d for d in (self.override_dir, self.template_dir) if d is not None]
        self._templates: Templates | None = None
        self._lock = threading.Lock()  # the planning thread and the event loop may both render

    def _engine(self) -> Templates:
        templates = self._templates
        if templates is None:
            with self._lock:
                if self._templates is None:
                    from bot.presentation.engine import Templates

                    self._templates = Templates(self._search_dirs)
                templates = self._templates
        return templates

    @property
    def env(self) -> jinja2.Environment:
        """The Jinja2 environment (built on first use)."""
        return self._engine().env

    def has(self, name: str) -> bool:
        """True if a template of that name exists in the override or the default directory. Asked
        once per name and Renderer (every mail asks whether its kind has an HTML template): the
        answer is kept, as the compiled templates are."""
        return self._engine().has(name)

    def render(self, name: str, **context: object) -> str:
        """Render template `name` with `context`. Any template problem raises RenderError naming it."""
        return self._engine().render(name, **context)


#: Most bytes of a one-line announcement that the security summary may bring it to: what one PRIVMSG
#: carries to a channel with a long name from a nick whose user@host is not known yet (404 bytes).
IRC_LINE_BYTES = 400


def irc_line(event: AnyEvent, renderer: Renderer) -> str:
    """The one-line announcement (IRC and console): template, then the sanitiser. A release's security
    summary is shortened (down to nothing) so that it never makes the line longer than IRC_LINE_BYTES."""
    from bot.presentation.contexts import event_context

    name = f"irc/{event.kind}.j2"
    context = event_context(event)
    line = sanitize(renderer.render(name, **context))
    summary = context.get("security_summary") or ""
    excess = len(line.encode()) - IRC_LINE_BYTES
    if summary and excess > 0:
        budget = len(summary.encode()) - excess
        line = sanitize(
            renderer.render(name, **event_context(event, summary_bytes=budget if budget >= 24 else 0))
        )
    return line

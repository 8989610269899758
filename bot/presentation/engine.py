"""The sandboxed Jinja2 environment behind `bot.presentation.render.Renderer`: the loaders (an
operator's folder, then the default one, a folder or a packaged Traversable), the filters templates may
use, and rendering whose errors name the template, the included file and the line.

Imported when a template is first rendered or looked up (`Renderer` builds it then), so importing the
sinks or the delivery does not load Jinja2.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from importlib.resources.abc import Traversable
from pathlib import Path

import jinja2
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.errors import RenderError
from bot.model import KEY_PACKAGES, Release
from bot.presentation.columns import wrap_columns
from bot.text import html_to_text, markdown_to_text, sanitize, truncate_utf8

__all__ = ["Templates"]


class _ResourceLoader(jinja2.BaseLoader):
    """Loads templates from an importlib.resources Traversable (a folder inside the package)."""

    def __init__(self, root: Traversable) -> None:
        self.root = root

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        node = self.root
        for part in split_template_path(template):
            node = node / part
        if not node.is_file():
            raise jinja2.TemplateNotFound(template)
        return node.read_text(encoding="utf-8"), str(node), lambda: True


def _loader(directory: Path | Traversable) -> jinja2.BaseLoader:
    if isinstance(directory, Path):
        return FileSystemLoader(str(directory))
    return _ResourceLoader(directory)


#: Names ending in one of these are HTML/XML and autoescaped; everything else is plain text.
_AUTOESCAPE_EXTENSIONS = ("html", "htm", "xml", "html.j2", "htm.j2", "xml.j2", "html.jinja", "html.jinja2")

#: Errors a template can raise while rendering (besides jinja2.TemplateError), e.g. `{{ 1 / 0 }}`,
#: `{{ x + 1 }}` with a string, a filter given a bad argument, recursion through includes.
_RUNTIME_ERRORS: tuple[type[Exception], ...] = (
    jinja2.TemplateError,
    ArithmeticError,
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
    RecursionError,
)


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _isodate(value: object) -> str:
    """datetime/date → "2026-08-13" (aware datetimes in UTC, naive taken as UTC); None → "unknown date"."""
    if value is None:
        return "unknown date"
    if isinstance(value, datetime):
        return _as_utc(value).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"isodate expects a datetime, date or None, not {type(value).__name__}")


def _isotime(value: object) -> str:
    """datetime → "2026-08-13 15:48 UTC"; a date → "2026-08-13"; None → "unknown time"."""
    if value is None:
        return "unknown time"
    if isinstance(value, datetime):
        return _as_utc(value).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"isotime expects a datetime, date or None, not {type(value).__name__}")


def _notes_text(release: object) -> str:
    """A release's notes as plain text, whatever format the source gave them in."""
    if not isinstance(release, Release):
        raise TypeError(f"notes_text expects a Release, not {type(release).__name__}")
    if release.notes_format == "markdown":
        return markdown_to_text(release.notes)
    if release.notes_format == "html":
        return html_to_text(release.notes)
    return release.notes.strip()


def _filter_sanitize(value: object) -> str:
    return sanitize(_text(value))


def _filter_html_to_text(value: object) -> str:
    return html_to_text(_text(value))


def _filter_markdown_to_text(value: object) -> str:
    return markdown_to_text(_text(value))


def _filter_truncate_bytes(value: object, max_bytes: int, ellipsis: str = "…") -> str:
    return truncate_utf8(_text(value), max_bytes, ellipsis)


def _filter_wrap(value: object, width: int = 72) -> str:
    return wrap_columns(_text(value), width)


class Templates:
    """Named templates found in `search_dirs`, the first folder that has a name winning."""

    def __init__(self, search_dirs: Sequence[Path | Traversable]) -> None:
        self._search_dirs = list(search_dirs)
        self.env = ImmutableSandboxedEnvironment(
            loader=ChoiceLoader([_loader(d) for d in self._search_dirs]),
            undefined=StrictUndefined,
            autoescape=select_autoescape(
                enabled_extensions=_AUTOESCAPE_EXTENSIONS,
                disabled_extensions=(),
                default_for_string=False,
                default=False,
            ),
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            # templates are read once per process, like the `has` answers below: no stat of every
            # template file on every render (3 per mail); an edited template is used after a restart
            auto_reload=False,
        )
        self.env.filters.update(
            {
                "sanitize": _filter_sanitize,
                "html_to_text": _filter_html_to_text,
                "markdown_to_text": _filter_markdown_to_text,
                "truncate_bytes": _filter_truncate_bytes,
                "wrap": _filter_wrap,
                "notes_text": _notes_text,
                "isodate": _isodate,
                "isotime": _isotime,
            }
        )
        self.env.globals["KEY_PACKAGES"] = KEY_PACKAGES
        self._has: dict[str, bool] = {}

    def has(self, name: str) -> bool:
        """True if a template of that name exists in the override or the default directory. Asked
        once per name and Renderer (every mail asks whether its kind has an HTML template): the
        answer is kept, as the compiled templates are."""
        known = self._has.get(name)
        if known is None:
            known = self._has[name] = self._lookup(name)
        return known

    def _lookup(self, name: str) -> bool:
        loader = self.env.loader
        if loader is None:  # pragma: no cover - always set in __init__
            return False
        try:
            loader.get_source(self.env, name)
        except jinja2.TemplateNotFound:
            return False
        return True

    def render(self, name: str, **context: object) -> str:
        """Render template `name` with `context`. Any template problem raises RenderError naming it."""
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateNotFound as exc:
            dirs = ", ".join(str(d) for d in self._search_dirs)
            raise RenderError(f"template {name!r} not found (searched {dirs})") from exc
        except jinja2.TemplateSyntaxError as exc:
            where = self._where(name, exc.filename, exc.lineno)
            raise RenderError(f"{where}: syntax error: {exc.message}") from exc
        except _RUNTIME_ERRORS as exc:
            raise RenderError(f"template {name!r}: {type(exc).__name__}: {exc}") from exc
        try:
            return template.render(**context)
        except jinja2.TemplateSyntaxError as exc:  # in an included/imported template
            where = self._where(name, exc.filename, exc.lineno)
            raise RenderError(f"{where}: syntax error: {exc.message}") from exc
        except _RUNTIME_ERRORS as exc:
            filename, lineno = self._template_frame(exc)
            where = self._where(name, filename, lineno)
            raise RenderError(f"{where}: {type(exc).__name__}: {exc}") from exc

    def _where(self, name: str, filename: str | None, lineno: int | None) -> str:
        where = f"template {name!r}"
        if filename is not None:
            inner = self._relative_name(filename)
            if inner is not None and inner != name:
                where += f" (in {inner!r})"
        if lineno is not None:
            where += f", line {lineno}"
        return where

    def _relative_name(self, filename: str) -> str | None:
        path = Path(filename)
        for directory in self._search_dirs:
            if not isinstance(directory, Path):  # a Traversable: its filenames start with str(root)
                prefix = str(directory).rstrip("/") + "/"
                if filename.startswith(prefix):
                    return filename[len(prefix) :]
                continue
            try:
                return path.resolve().relative_to(directory.resolve()).as_posix()
            except ValueError:
                continue
        return None

    def _template_frame(self, exc: BaseException) -> tuple[str | None, int | None]:
        """The innermost traceback frame that is template code (jinja rewrites those to the .j2 file)."""
        found: tuple[str | None, int | None] = (None, None)
        for frame in traceback.extract_tb(exc.__traceback__):
            if not frame.filename.endswith(".py") and self._relative_name(frame.filename) is not None:
                found = (frame.filename, frame.lineno)
        return found

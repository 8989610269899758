"""What mail templates see besides `event_context`: the notes as text with link references and as
sanitised HTML, the security list with links, and the deprecation notices a release brings. Pure.

One mail per release: the deprecation notices that arrive with a release (first seen in its notes, or
reaching its channel with it) are rendered inside that release's mail. `bundle` tells, for the events
of one poll, which notices go with which release (`bot.presentation.batch` holds the poll's events
while they are rendered).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from bot.model import AnyEvent, DeprecationEvent, Event, SummaryEvent
from bot.presentation.contexts import deprecation_context, event_context
from bot.presentation.notes import notes_html, notes_text
from bot.security_index import id_link

if TYPE_CHECKING:
    from markupsafe import Markup

__all__ = ["mail_context", "notices_of", "release_of", "safe_link", "short_subject"]


def safe_link(link: object) -> str | None:
    """A link fit for an HTML href: http(s) only, no whitespace or control characters."""
    if not isinstance(link, str):
        return None
    link = link.strip()
    if re.match(r"^https?://[^\s\x00-\x1f\x7f]+$", link, re.IGNORECASE):
        return link
    return None


def _same_release(notice: DeprecationEvent, release: Event) -> bool:
    reach = notice.reach
    return (notice.source, reach.stream, reach.version) == release.release.key


def notices_of(event: Event, batch: Iterable[AnyEvent]) -> list[DeprecationEvent]:
    """The deprecation events of `batch` that arrive with the release of `event`."""
    return [e for e in batch if isinstance(e, DeprecationEvent) and _same_release(e, event)]


def release_of(notice: DeprecationEvent, batch: Iterable[AnyEvent]) -> Event | None:
    """The release or promotion event of `batch` that `notice` arrives with, if any."""
    return next((e for e in batch if isinstance(e, Event) and _same_release(notice, e)), None)


def _security_html(index: Any) -> Markup:
    """The security list as HTML: per package, the ids as links. Safe as built (every piece escaped,
    ids are CVE/GHSA ids by `bot.security_index`'s pattern and their links made from them), so it is
    not passed through the allow-list cleaner; links carry the rel="noopener noreferrer" the cleaner
    would add."""
    from markupsafe import Markup  # Jinja2's, loaded when a mail is first rendered

    items = []
    for package, ids in index.ranked():
        links = ", ".join(
            f'<a href="{Markup.escape(id_link(i))}" rel="noopener noreferrer">{Markup.escape(i)}</a>'
            for i in ids
        )
        items.append(f"<li>{Markup.escape(package)} ({len(ids)}): {links}</li>")
    return Markup("<ul>" + "".join(items) + "</ul>") if items else Markup("")


def short_subject(context: dict[str, Any]) -> str:
    """ "[Flatcar] stable 4152.2.2: kernel 6.6.83, 61 security fixes" (a promotion says so first)."""
    label = "" if context["label"] == "releases" else f" {context['label']}"  # a feed's default stream
    head = f"[{context['project']}]{label} {context['version']}"
    promoted = (
        f" ({context['major']} promoted from {context['promoted_from']})"
        if context.get("promoted_from")
        else ""
    )
    bits = [f"{name} {ver}" for name, ver in context.get("packages", []) if name == "kernel"]
    fixes = len(context["security"]) if context.get("security") is not None else 0
    if fixes:
        bits.append(f"{fixes} security fix{'' if fixes == 1 else 'es'}")
    return f"{head}{promoted}: {', '.join(bits)}" if bits else f"{head} released{promoted}"


def mail_context(event: AnyEvent, batch: Sequence[AnyEvent] = ()) -> dict[str, Any]:
    """`event_context` plus, for a release or promotion: `notes_text`, `notes_references` ("[1] URL"
    lines), `notes_html` (sanitised, safe to insert), `security_html`, `notices` (the deprecation
    contexts this release brings) and `short_subject`; for a summary each newest release's `href`;
    for every kind `link_href`."""
    context = event_context(event)
    context["link_href"] = safe_link(context.get("link"))
    if isinstance(event, SummaryEvent):
        for item in context["newest"]:
            item["href"] = safe_link(item["link"])
    if isinstance(event, Event):
        from markupsafe import Markup

        release = event.release
        text = notes_text(release.notes, release.notes_format)
        notices = []
        for notice in notices_of(event, batch):
            item = deprecation_context(notice)
            item["link_href"] = safe_link(item.get("link"))
            notices.append(item)
        context.update(
            notes_text=text.text,
            notes_references=text.references(),
            notes_html=Markup(notes_html(release.notes, release.notes_format)),
            security_html=_security_html(context["security"]),
            notices=notices,
        )
        context["short_subject"] = short_subject(context)
    return context

"""Mail people want to read (issue 12, item 5), measured on mails built from the real history: links
kept (references in the text part, anchors in HTML), the security list, HTML rendered from the notes'
Markdown and sanitised, one mail per release with its deprecation notices, short subjects, display
columns."""

from __future__ import annotations

import dataclasses
import email
import re
from email.message import EmailMessage
from email.policy import default as default_policy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtplib.email import flatten_message
from markdown_it import MarkdownIt

from bot.deprecations import detect_deprecations
from bot.digest_render import digest_context
from bot.messages import sample_plan_events
from bot.model import Event, Release
from bot.pipeline import PollPlan, render_plan
from bot.presentation import event_context
from bot.presentation.columns import display_width, wrap_columns
from bot.presentation.mailcontext import short_subject
from bot.presentation.notes import notes_html, notes_text
from bot.render import Renderer
from bot.security import id_link, release_security
from bot.sinks.mail import MailSink, wrap_mail_text
from tests.helpers import DATA
from tests.mailhelpers import item_for, mail_sink
from tests.unit.test_security import full_releases


def _message(sink: MailSink, event: Any) -> EmailMessage:
    item = item_for(sink, event)
    parsed = email.message_from_bytes(flatten_message(sink.build(item)), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()).replace("\r\n", "\n"), str(html.get_content()).replace("\r\n", "\n")


def _links(markdown: str) -> set[str]:
    found: set[str] = set()
    for token in MarkdownIt("commonmark").enable("table").parse(markdown):
        for child in token.children or ():
            href = child.attrGet("href") if child.type == "link_open" else None
            if isinstance(href, str) and href.startswith(("http://", "https://")):
                found.add(href)
    return found


def _stable(version: str) -> Release:
    return next(r for r in full_releases() if r.version == version and r.channel == "stable")


class _Audit(HTMLParser):
    """Everything a sanitiser test looks at: tags, attributes, link targets."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            if name in ("href", "src"):
                self.hrefs.append(value or "")


def assert_safe_html(html: str) -> _Audit:
    audit = _Audit()
    audit.feed(html)
    assert not audit.tags & {"script", "style", "iframe", "object", "embed", "form", "img", "link"}, (
        audit.tags
    )
    assert "style" not in audit.attributes, "style attribute"
    assert not [a for a in audit.attributes if a.startswith("on")], audit.attributes
    assert all(re.match(r"^(https?:|mailto:)", h) for h in audit.hrefs), audit.hrefs
    assert "<script" not in html.lower() and "<style" not in html.lower()
    return audit


# -- links and the security list --------------------------------------------------------------------


@pytest.mark.parametrize("version", ["4152.2.2", "3975.2.0"])
def test_a_real_release_mail_keeps_every_link_and_carries_its_security_list(
    tmp_path: Path, version: str
) -> None:
    release = _stable(version)
    links = _links(release.notes)
    assert len(links) > 40
    message = _message(mail_sink(tmp_path), Event("release", release))
    text, html = _parts(message)
    references = dict(re.findall(r"^\[(\d+)\] (\S+)$", text, re.M))
    assert set(references.values()) == links  # every link of the notes, once each
    for number in references:  # each reference is used in the text
        assert f"[{number}]" in text.split("Links in the release notes:")[0]
    audit = assert_safe_html(html)
    assert links <= set(audit.hrefs)
    index = release_security(release)
    assert len(index) > 40
    for ident in index.ids:
        assert f"{ident} {id_link(ident)}" in text
        assert f'href="{id_link(ident)}"' in html
    assert f"{len(index)} security fixes" in str(message["Subject"])


# -- sanitised HTML -------------------------------------------------------------------------------------


HOSTILE = """\
## Security fixes <script>alert(1)</script>

- <img src=x onerror=alert(1)> [click](javascript:alert(1)) [ok](https://example.org/a)
- <style>body{display:none}</style> <a href="https://x" onclick="steal()">x</a>
- [data](data:text/html;base64,PHNjcmlwdD4=) `<b>code</b>`

<iframe src="https://evil"></iframe>
"""


def test_notes_html_passes_the_sanitiser_for_markdown_html_and_hostile_input() -> None:
    for notes, kind in (
        (HOSTILE, "markdown"),
        (HOSTILE, "html"),
        ("<p onmouseover=x style='a'>t</p>", "html"),
    ):
        html = notes_html(notes, kind)
        audit = assert_safe_html(html)
        assert "https://example.org/a" in audit.hrefs or kind == "html" or "x" in html
    rendered = notes_html(HOSTILE, "markdown")
    assert "&lt;script&gt;" in rendered  # raw HTML in Markdown is shown as text, never passed on
    assert '<a href="https://example.org/a" rel="noopener noreferrer">ok</a>' in rendered
    assert "<h2>" in rendered and "<ul>" in rendered and "<code>" in rendered


def test_every_html_part_passes_the_sanitiser(tmp_path: Path) -> None:
    sink = mail_sink(tmp_path)
    releases = [r for r in full_releases() if r.channel == "stable"][-15:]
    for release in releases:
        assert_safe_html(_parts(_message(sink, Event("release", release)))[1])
    hostile = dataclasses.replace(releases[-1], notes=HOSTILE)
    assert_safe_html(_parts(_message(sink, Event("promotion", hostile, promoted_from="beta")))[1])
    for event in sample_plan_events():
        assert_safe_html(_parts(_message(sink, event))[1])
    events = [(n, Event("release", r)) for n, r in enumerate(releases, 1)]
    context = digest_context(events, output="list", period_start=None, period_end=releases[-1].published)  # type: ignore[arg-type]
    assert_safe_html(Renderer().render("mail/digest.html.j2", **context))


# -- one mail per release ------------------------------------------------------------------------------


def _release_with_notices() -> tuple[Event, list[Any]]:
    notes = (DATA / "notes" / "4722.0.0.md").read_text(encoding="utf-8")
    release = Release(
        source="flatcar",
        project="Flatcar",
        stream="alpha",
        channel="alpha",
        version="4722.0.0",
        notes=notes,
        notes_format="markdown",
        link="https://www.flatcar.org/releases#release-4722.0.0",
        published=full_releases()[-1].published,
    )
    detection = detect_deprecations([(release, True)], (), frozenset())
    return Event("release", release), list(detection.events)


def test_a_release_with_deprecation_notices_is_one_mail(tmp_path: Path) -> None:
    release, notices = _release_with_notices()
    assert len(notices) >= 4
    lists = {
        "all": mail_sink(tmp_path, name="all"),
        "notices-only": mail_sink(tmp_path, name="notices-only", filter={"kinds": ["deprecation"]}),
        "stable": mail_sink(tmp_path, name="stable", filter={"channels": ["stable"]}),
    }
    renderer = Renderer()

    def render(event: Any) -> list[Any]:
        return [s.format(event, renderer) for s in lists.values() if s.wants(event)]

    plan = render_plan(PollPlan("flatcar", events=(release, *notices)), render)
    sent: dict[str, list[Any]] = {}
    for _event, messages in plan.messages:
        for message in messages:
            sent.setdefault(message.sink, []).append(message)
    (mail,) = sent["all"]  # one mail, not five
    text = str(mail.payload["text"])
    assert "Deprecations and removals arriving with this release:" in text
    for notice in notices:
        first_words = " ".join(notice.notice.text.split()[:4])
        assert first_words in " ".join(text.split()), first_words
    assert_safe_html(str(mail.payload["html"]))
    # a list that gets only deprecations hears each notice on its own; one that gets neither, nothing
    assert len(sent["notices-only"]) == len(notices)
    assert "stable" not in sent
    # outside a poll (check-config, preview of one event) a notice is its own mail
    assert lists["all"].wants(notices[0])


# -- subjects, wrapping ------------------------------------------------------------------------------


def test_subjects_are_short(tmp_path: Path) -> None:
    sink = mail_sink(tmp_path)
    renderer = Renderer()
    for release in full_releases():  # what the subject template shows (`short_subject`)
        for event in (Event("release", release), Event("promotion", release, promoted_from="alpha")):
            subject = short_subject(event_context(event))
            assert len(subject) <= 100, subject
    stable = _stable("4152.2.2")
    assert sink.render(Event("release", stable), renderer)["subject"] == (
        "[Flatcar] stable 4152.2.2: kernel 6.6.83, 61 security fixes"
    )


def test_the_text_part_wraps_by_display_columns() -> None:
    wide = "- " + "安全修正が含まれています。" * 8 + " https://example.org/" + "x" * 80
    wrapped = wrap_mail_text(wide)
    lines = wrapped.rstrip("\n").split("\n")
    assert len(lines) > 3
    for line in lines:
        assert display_width(line) <= 72 or " " not in line.strip(), line
    assert lines[1].startswith("  ")  # hanging indent of the list item
    assert "".join(line.strip().removeprefix("- ") for line in lines[:-1]) == "安全修正が含まれています。" * 8
    assert wrap_columns("short line") == "short line"
    assert notes_text("A [link](https://a.example/) and <https://b.example/>.", "markdown").text == (
        "A link [1] and https://b.example/."
    )


def test_links_of_html_notes_are_kept_as_references_too() -> None:
    notes = (
        '<p>Fixes <a href="https://nvd.example/CVE-1">CVE-1</a>, <a href="https://x.example/">https://x.example/</a>'
        ' and <a href="javascript:x">bad</a></p><ul><li>one <a href="https://a.example/?a=1&amp;b=2">a</a></li></ul>'
    )
    result = notes_text(notes, "html")
    assert result.links == ("https://nvd.example/CVE-1", "https://a.example/?a=1&b=2")
    assert "Fixes CVE-1 [1], https://x.example/ and bad" in result.text and "one a [2]" in result.text

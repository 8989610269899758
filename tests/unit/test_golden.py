"""Golden files: real snapshot → events → rendered IRC line, mail subject and mail body.

A change in output is a visible diff in tests/data/golden/; accept one with UPDATE_GOLDEN=1 and review it.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bot.detect import detect
from bot.presentation.mailcontext import mail_context
from bot.render import Renderer
from bot.sinks import irc_line
from bot.text import sanitize
from tests.helpers import DATA, SNAPSHOTS, check_golden, history_snapshot, known_from

DOCS = {"releases-alpha.json", "releases-beta.json", "releases-stable.json", "releases-lts.json"}


def render_all(before: str, after: str) -> str:
    renderer = Renderer()
    detection = detect(
        history_snapshot(after), known_from(history_snapshot(before)), baselined_documents=DOCS
    )
    out = [f"# {before} -> {after}: {len(detection.events)} events", ""]
    for event in detection.events:
        context = mail_context(event)
        out += [
            f"== {event.key}",
            f"irc: {irc_line(event, renderer)}",
            f"subject: {sanitize(renderer.render(f'mail/{event.kind}.subject.j2', **context))}",
            "body:",
            renderer.render(f"mail/{event.kind}.txt.j2", **context),
            "",
        ]
    return "\n".join(out)


@pytest.mark.parametrize(("before", "after"), list(itertools.pairwise(SNAPSHOTS)))
def test_history_golden(before: str, after: str) -> None:
    check_golden(DATA / "golden" / f"{before[:10]}_to_{after[:10]}.txt", render_all(before, after))


def test_irc_lines_are_single_sanitised_lines() -> None:
    text = render_all(SNAPSHOTS[1], SNAPSHOTS[2])
    irc = [line for line in text.splitlines() if line.startswith("irc: ")]
    assert len(irc) == 4
    for line in irc:
        assert not any(ch in line for ch in "\r\n\x00\x01\x03")
    promotion = next(line for line in irc if "promoted" in line)
    assert "4230 promoted from alpha to beta: 4230.1.0 released 2025-03-20" in promotion
    assert "https://www.flatcar.org/releases#release-4230.1.0" in promotion


def test_mail_body_lines_fit_72_columns_except_urls() -> None:
    text = render_all(SNAPSHOTS[1], SNAPSHOTS[2])
    for line in text.splitlines():
        if line.startswith(("irc: ", "== ", "# ", "subject: ")):
            continue
        assert len(line) <= 72 or "://" in line or " " not in line.strip(), line


def test_a_missing_golden_file_fails_and_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UPDATE_GOLDEN", raising=False)
    missing = tmp_path / "golden" / "new.txt"
    with pytest.raises(AssertionError, match="is missing"):
        check_golden(missing, "output\n")
    assert not missing.exists()
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    check_golden(missing, "output\n")  # written on request, then compared
    assert missing.read_text(encoding="utf-8") == "output\n"

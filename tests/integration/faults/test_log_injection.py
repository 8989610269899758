"""Untrusted text in log lines (issue 9, item 8): the CLI's log handler never writes a raw control
character, and one record is one line (tracebacks indented below it)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.errors import ParseError
from bot.logsetup import setup_logging

FORGE = "title\x1b[2J\x07\x00\r\n2026-01-01T00:00:00 ERROR   forged line\u202eevil\x0304red\x9b"
CONTROLS = [chr(c) for c in range(32) if chr(c) != "\n"] + ["\x7f", "\x9b", "\u202e", "\u2028"]


@pytest.fixture
def configured() -> Iterator[None]:
    setup_logging("info")
    yield None
    logging.basicConfig(force=True, handlers=[logging.NullHandler()])


def lines(err: str) -> list[str]:
    assert not any(ch in err for ch in CONTROLS), repr(err)
    return err.splitlines()


def test_arguments_and_plain_messages_are_sanitised(
    configured: object, capsys: pytest.CaptureFixture[str]
) -> None:
    log = logging.getLogger("release-bot")
    log.info("source %s: %s", "chan\r\nnel", FORGE)
    log.warning(FORGE)  # an untrusted value as the message itself
    logging.getLogger("release-bot.irc").warning("%(t)s", {"t": FORGE})
    out = lines(capsys.readouterr().err)
    assert len(out) == 3
    assert out[0].endswith("INFO    source chan nel: title[2J 2026-01-01T00:00:00 ERROR forged lineevilred")
    assert not any(line.startswith("2026-01-01") for line in out)


def test_tracebacks_are_cleaned_and_indented(configured: object, capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("release-bot")
    try:
        raise ParseError(FORGE, source="feed\x1b", url="https://example.invalid/\x07")
    except ParseError:
        log.exception("source %s: unexpected error", "feed\x1b")
    out = lines(capsys.readouterr().err)
    assert "unexpected error" in out[0]
    assert len(out) > 2 and all(line.startswith("  ") for line in out[1:])

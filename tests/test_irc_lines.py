"""Lines out: format_line, the message split of a session (see also test_irc_split.py for the budget)."""

from __future__ import annotations

import pytest

from bot.irc.lines import format_line, quit_line, redact
from bot.irc.session import IrcSession
from tests.ircsession import config, register


def test_format_line_trailing_parameter():
    assert format_line("PRIVMSG", "#c", "hello world") == "PRIVMSG #c :hello world"
    assert format_line("PRIVMSG", "#c", ":)") == "PRIVMSG #c ::)"
    assert format_line("PRIVMSG", "#c", "") == "PRIVMSG #c :"
    assert format_line("NICK", "rbot") == "NICK rbot"


@pytest.mark.parametrize("evil", ["a\rb", "a\nQUIT", "a\0b", "x\r\nPRIVMSG #other :spam"])
def test_format_line_refuses_cr_lf_nul_anywhere(evil: str):
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        format_line("PRIVMSG", "#c", evil)
    with pytest.raises(ValueError):
        format_line("PRIVMSG", evil, "text")


def test_format_line_refuses_spaces_in_middle_params_and_long_lines():
    with pytest.raises(ValueError, match="only the last"):
        format_line("PRIVMSG", "#a b", "x")
    with pytest.raises(ValueError, match="512"):
        format_line("PRIVMSG", "#c", "x" * 600)


def test_message_lines_are_sanitised_and_split():
    session = IrcSession(config())
    register(session)
    lines = session.message_lines("#c", "one\r\nQUIT :bye\x00\x01ACTION hi\x01 " + "word " * 200)
    assert len(lines) > 1
    for line in lines:
        assert line.startswith("PRIVMSG #c :")
        for ch in "\r\n\0\x01":
            assert ch not in line
    assert lines[0].startswith("PRIVMSG #c :one QUIT :byeACTION hi word")
    assert session.message_lines("#c", "x", notice=True) == ["NOTICE #c :x"]


def test_quit_line_is_sanitised_and_never_empty():
    assert format_line("QUIT", "x") == "QUIT x"
    assert quit_line("going\r\naway now") == "QUIT :going away now"
    assert quit_line("\x00") == "QUIT bye"
    assert len(quit_line("é" * 400).encode()) <= len("QUIT :") + 300


def test_redact_hides_secrets_from_the_log():
    assert redact("PASS :s3cret") == "PASS ***"
    assert redact("AUTHENTICATE AGFjY3QAcHc=") == "AUTHENTICATE ***"
    assert redact("AUTHENTICATE PLAIN") == "AUTHENTICATE PLAIN"
    assert redact("PRIVMSG NickServ :IDENTIFY acct pw") == "PRIVMSG NickServ :IDENTIFY ***"
    assert redact("PRIVMSG #c :hello") == "PRIVMSG #c :hello"

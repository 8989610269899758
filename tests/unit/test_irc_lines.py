"""Lines out: format_line, QUIT, the log form, the budget as the receivers see our messages, and the
byte-exact split."""

from __future__ import annotations

import pytest

from bot.irc.lines import (
    ASSUMED_HOSTLEN,
    ASSUMED_USERLEN,
    MIN_TEXT_BYTES,
    format_line,
    quit_line,
    redact,
    split_message,
    text_budget,
)
from bot.irc.protocol import ChannelJoin, SessionConfig
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


def relayed(nick: str, user: str, host: str, target: str, text: str, command: str = "PRIVMSG") -> bytes:
    return f":{nick}!{user}@{host} {command} {target} :{text}\r\n".encode()


def test_budget_is_exact_for_the_relayed_line():
    budget = text_budget(
        nick="release-bot", user="~rb", host="user/release-bot", command="PRIVMSG", target="#flatcar"
    )
    text = "x" * budget
    assert len(relayed("release-bot", "~rb", "user/release-bot", "#flatcar", text)) == 512
    assert len(relayed("release-bot", "~rb", "user/release-bot", "#flatcar", text + "x")) == 513


def test_unknown_user_and_host_assume_the_maximum():
    known = text_budget(nick="rb", user="u", host="h", command="PRIVMSG", target="#c")
    unknown = text_budget(nick="rb", user=None, host=None, command="PRIVMSG", target="#c")
    assert known - unknown == (ASSUMED_USERLEN - 1) + (ASSUMED_HOSTLEN - 1)
    text = "x" * unknown
    assert len(relayed("rb", "u" * ASSUMED_USERLEN, "h" * ASSUMED_HOSTLEN, "#c", text)) == 512


def test_notice_budget_and_minimum():
    privmsg = text_budget(nick="rb", user="u", host="h", command="PRIVMSG", target="#c")
    notice = text_budget(nick="rb", user="u", host="h", command="NOTICE", target="#c")
    assert notice - privmsg == 1  # "NOTICE" is one byte shorter than "PRIVMSG"
    assert (
        text_budget(nick="rb", user=None, host=None, command="PRIVMSG", target="#" + "c" * 600)
        == MIN_TEXT_BYTES
    )


def test_split_multibyte_never_cuts_a_character():
    text = "Flatcar — " + "é€😀" * 200
    pieces = split_message(text, 100)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    for piece in pieces:
        assert len(piece.encode("utf-8")) <= 100
        piece.encode("utf-8").decode("utf-8")  # whole characters only


def test_split_at_word_boundaries_keeps_urls_whole():
    url = "https://www.flatcar.org/releases#release-4152.2.2"
    text = "[Flatcar] stable 4152.2.2 released 2025-03-20 — kernel 6.6.83, systemd 255 — " + url
    pieces = split_message(text, 90)
    assert pieces[-1] == url or pieces[-1].endswith(" " + url)
    assert all(len(p.encode()) <= 90 for p in pieces)
    assert " ".join(pieces) == text


def test_split_a_url_longer_than_the_budget_is_cut_not_lost():
    url = "https://example.org/" + "a" * 300
    pieces = split_message("see " + url, 100)
    assert "".join(pieces[1:]) == url and pieces[0] == "see"
    assert all(len(p.encode()) <= 100 for p in pieces)


def test_split_sanitises_first():
    assert split_message("a\r\nb\x00c\x01d\x03" + "04red", 100) == ["a bcdred"]


@pytest.mark.parametrize("nick", ["rb", "a-much-longer-nick"])
def test_session_lines_fit_512_as_relayed_with_the_assumed_maximum(nick: str):
    session = IrcSession(SessionConfig(nick=nick, username="rb", realname="r", channels=(ChannelJoin("#c"),)))
    session.start(0.0)
    text = "Flatcar " + "é" * 700 + " https://www.flatcar.org/releases#release-4152.2.2 " + "word " * 100
    lines = session.message_lines("#flatcar-announcements", text)
    assert len(lines) >= 3
    for line in lines:
        piece = line.split(" :", 1)[1]
        assert (
            len(relayed(nick, "u" * ASSUMED_USERLEN, "h" * ASSUMED_HOSTLEN, "#flatcar-announcements", piece))
            <= 512
        )
    # once the real (shorter) host is known, more fits per line
    session.receive(f":irc 001 {nick} :Welcome {nick}!rb@127.0.0.1", 0.0)
    assert len(session.message_lines("#flatcar-announcements", text)) <= len(lines)
    for line in session.message_lines("#flatcar-announcements", text):
        piece = line.split(" :", 1)[1]
        assert len(relayed(nick, "rb", "127.0.0.1", "#flatcar-announcements", piece)) <= 512

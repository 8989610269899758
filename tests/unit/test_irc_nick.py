"""Nick: alternatives during registration, the one regain path (timer, holder leaving, MONITOR)."""

from __future__ import annotations

from collections.abc import Callable

from bot.irc.flood import Priority
from bot.irc.names import Casemap
from bot.irc.nick import Nicks
from bot.irc.protocol import Action, Log, Send
from bot.irc.session import IrcSession
from tests.ircsession import S, config, feed, sent


def test_nick_in_use_tries_alternatives_then_numbers():
    session = IrcSession(config(alt_nicks=("rbot_", "rbot2")))
    session.start(0.0)
    assert sent(feed(session, f"{S} 433 * rbot :Nickname is already in use")) == ["NICK rbot_"]
    assert sent(feed(session, f"{S} 433 * rbot_ :Nickname is already in use")) == ["NICK rbot2"]
    assert sent(feed(session, f"{S} 432 * rbot2 :Erroneous Nickname")) == ["NICK rbot_1"]
    assert sent(feed(session, f"{S} 437 * rbot_1 :Nick/channel is temporarily unavailable")) == [
        "NICK rbot_2"
    ]
    assert session.nick == "rbot_2"
    feed(session, f"{S} CAP * LS :x", f"{S} 001 rbot_2 :Welcome")
    assert session.nick == "rbot_2"


def test_nick_regained_periodically_and_when_the_holder_leaves():
    session = IrcSession(config(regain_interval=60.0))
    session.start(0.0)
    feed(session, f"{S} 433 * rbot :Nickname is already in use")
    feed(session, f"{S} CAP * LS :x", f"{S} 001 rbot_1 :Welcome", f"{S} 376 rbot_1 :End", now=1.0)
    assert "NICK rbot" not in sent(session.tick(30.0))
    assert "NICK rbot" in sent(session.tick(61.5))
    assert sent(feed(session, f"{S} 433 rbot_1 rbot :Nickname is already in use")) == []  # still taken
    assert sent(feed(session, ":rbot!x@y QUIT :bye")) == ["NICK rbot"]
    out = feed(session, ":rbot_1!rb@h NICK :rbot")
    assert session.nick == "rbot"
    assert any(isinstance(a, Log) and "regained" in a.message for a in out)
    assert "NICK rbot" not in sent(session.tick(200.0))


def test_nick_regain_with_monitor():
    session = IrcSession(config())
    session.start(0.0)
    feed(session, f"{S} 433 * rbot :in use", f"{S} CAP * LS :x", f"{S} 001 rbot_1 :Welcome")
    feed(session, f"{S} 005 rbot_1 MONITOR=100 :are supported")
    assert "MONITOR + rbot" in sent(feed(session, f"{S} 376 rbot_1 :End"))
    assert sent(feed(session, f"{S} 731 rbot_1 :rbot")) == ["NICK rbot"]
    out = feed(session, ":rbot_1!rb@h NICK rbot")
    assert "MONITOR - rbot" in sent(out)


# --------------------------------------------------------------------------------------------------
# Nicks on its own: one regain path
# --------------------------------------------------------------------------------------------------


def nicks_on_alt(**kw: object) -> Nicks:
    nicks = Nicks(config(regain_interval=60.0, **kw), Casemap())
    nicks.on_error("nicknameinuse", "rbot", registered=False)
    nicks.on_welcome("rbot_1", 0.0)
    return nicks


def test_every_trigger_takes_the_same_regain_path():
    regain = [Send("NICK rbot", Priority.CONTROL)]
    triggers: tuple[Callable[[Nicks], list[Action]], ...] = (
        lambda n: n.tick(60.0, registered=True),
        lambda n: n.on_gone(["RBOT"], 30.0, registered=True),  # QUIT or MONITOR offline, casemapped
        lambda n: n.on_nick("rbot", "someone", 30.0, registered=True),  # the holder moved away
    )
    for trigger in triggers:
        nicks = nicks_on_alt()
        assert trigger(nicks) == regain
        assert nicks.regain_at is not None and nicks.regain_at > 60.0  # the next try is rescheduled


def test_no_regain_before_registration_or_when_we_have_it():
    nicks = nicks_on_alt()
    assert nicks.regain(100.0, registered=False) == []
    assert nicks.on_gone(["other"], 100.0, registered=True) == []
    nicks.on_nick("rbot_1", "rbot", 100.0, registered=True)
    assert nicks.has_wanted and nicks.regain_at is None
    assert nicks.regain(200.0, registered=True) == [] and nicks.tick(1e9, registered=True) == []


def test_a_failed_regain_after_registration_keeps_the_nick():
    nicks = nicks_on_alt()
    assert nicks.on_error("nicknameinuse", "rbot", registered=True) == []
    assert nicks.nick == "rbot_1"


def test_numbered_nicks_fit_a_short_nicklen():
    nicks = Nicks(config(nick="averyveryverylongnick"), Casemap())
    assert nicks.next_candidate() == "averyveryver_1"

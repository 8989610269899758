"""Channel membership: joins after the MOTD, KICK and rejoin, refused JOINs with backoff, PART."""

from __future__ import annotations

from bot.irc.flood import Priority
from bot.irc.membership import Membership
from bot.irc.names import Casemap
from bot.irc.protocol import ChannelJoin, Joined, Left, Log, Send
from bot.irc.session import IrcSession
from tests.ircsession import S, config, feed, joined_session, register, sent


def test_join_waits_for_motd_or_fallback_timer():
    session = IrcSession(config(channels=(ChannelJoin("#c"),)))
    session.start(0.0)
    feed(session, f"{S} CAP * LS :x")
    out = feed(session, f"{S} 001 rbot :Welcome", now=1.0)
    assert "JOIN #c" not in sent(out)
    assert "JOIN #c" not in sent(session.tick(5.0))
    assert "JOIN #c" in sent(session.tick(11.5))  # no end of MOTD within 10 s: join anyway


def test_kick_then_rejoin_after_delay():
    session = joined_session(rejoin_delay=10.0)
    out = feed(session, ":op!o@h KICK #c rbot :behave", now=100.0)
    assert out == [Left("#c", "kicked by op (behave); rejoining in 10 s")]
    assert not session.is_joined("#c")
    assert "JOIN #c key" not in sent(session.tick(105.0))
    assert "JOIN #c key" in sent(session.tick(110.5))
    assert "JOIN #c key" not in sent(session.tick(111.5))  # waiting for the answer
    assert feed(session, ":rbot!rb@h JOIN #c") == [Joined("#c")]


def test_kick_without_rejoin():
    session = joined_session(rejoin_on_kick=False)
    (left,) = feed(session, ":op!o@h KICK #c rbot", now=1.0)
    assert isinstance(left, Left) and "not rejoining" in left.reason
    assert "JOIN" not in " ".join(sent(session.tick(10_000.0)))


def test_other_people_kicked_or_parting_do_not_matter():
    session = joined_session()
    assert feed(session, ":op!o@h KICK #c someone :bye", ":x!y@z PART #c") == []
    assert session.is_joined("#c")


def test_join_refused_retries_with_backoff():
    session = IrcSession(config(channels=(ChannelJoin("#c"),), join_retry=60.0, join_retry_max=900.0))
    register(session, now=0.0)
    out = feed(session, f"{S} 474 rbot #c :Cannot join channel (+b)", now=1.0)
    assert isinstance(out[0], Log) and "retrying in 60 s" in out[0].message
    assert "JOIN #c" not in sent(session.tick(30.0))
    assert "JOIN #c" in sent(session.tick(61.5))
    out = feed(session, f"{S} 475 rbot #c :Cannot join channel (+k)", now=62.0)
    assert "retrying in 120 s" in out[0].message


def test_joining_an_unconfigured_channel_parts_it():
    session = joined_session()
    out = feed(session, ":rbot!rb@h JOIN #elsewhere")
    assert "PART #elsewhere" in sent(out)


# --------------------------------------------------------------------------------------------------
# Membership on its own
# --------------------------------------------------------------------------------------------------


def test_a_join_without_answer_is_sent_again_after_a_minute():
    chans = Membership(config(channels=(ChannelJoin("#c"),)), Casemap())
    assert chans.joins_due(0.0) == [Send("JOIN #c", Priority.CONTROL)]
    assert chans.joins_due(59.0) == []
    assert chans.joins_due(60.0) == [Send("JOIN #c", Priority.CONTROL)]


def test_join_retry_backoff_is_capped():
    settings = config(channels=(ChannelJoin("#c"),), join_retry=60.0, join_retry_max=150.0)
    chans = Membership(settings, Casemap())
    delays = []
    for _ in range(4):
        (log,) = chans.on_join_error("bannedfromchan", ["#C", "Cannot join channel (+b)"], 0.0)
        assert isinstance(log, Log)
        delays.append(chans.deadlines()[0])
    assert delays == [60.0, 120.0, 150.0, 150.0]
    assert chans.on_join_error("bannedfromchan", ["#other", "x"], 0.0) == []  # not ours


def test_casemapped_channel_names_and_malformed_echoes():
    chans = Membership(config(channels=(ChannelJoin("#Chan[1]"),)), Casemap())
    assert chans.on_own_join("#chan{1}") == [Joined("#Chan[1]")]
    assert chans.is_joined("#CHAN[1]") and chans.joined == ["#Chan[1]"]
    (log,) = chans.on_own_join("")
    assert isinstance(log, Log) and "malformed" in log.message
    assert chans.left("#elsewhere", "parted", 0.0) == []

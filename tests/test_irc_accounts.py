"""Accounts: account-tag, extended-join, account-notify, kept across NICK, forgotten at QUIT."""

from __future__ import annotations

from bot.irc.protocol import ChannelJoin
from bot.irc.session import IrcSession
from tests.ircsession import S, config, feed


def test_accounts_from_tag_extended_join_and_account_notify():
    session = IrcSession(config(channels=(ChannelJoin("#c"),)))
    session.start(0.0)
    feed(session, f"{S} CAP * LS :account-tag extended-join account-notify")
    feed(session, f"{S} CAP rbot ACK :account-tag extended-join account-notify")
    feed(session, f"{S} 001 rbot :Welcome", f"{S} 376 rbot :End", ":rbot!rb@h JOIN #c * :bot")
    (msg,) = feed(session, "@account=alice;time=x :alice!a@h PRIVMSG #c :!status")
    assert msg.account == "alice"
    feed(session, ":carol!c@h JOIN #c carol_acct :Carol")
    (msg,) = feed(session, ":carol!c@h PRIVMSG #c :!status")
    assert msg.account == "carol_acct"
    feed(session, ":carol!c@h NICK carol2")
    (msg,) = feed(session, ":carol2!c@h PRIVMSG #c :!status")
    assert msg.account == "carol_acct"
    feed(session, ":carol2!c@h ACCOUNT *")
    (msg,) = feed(session, ":carol2!c@h PRIVMSG #c :!status")
    assert msg.account is None
    feed(session, ":dave!d@h JOIN #c * :Dave")
    (msg,) = feed(session, ":dave!d@h PRIVMSG #c :!status")
    assert msg.account is None

"""Accounts: account-tag, extended-join, account-notify, kept across NICK, forgotten at QUIT."""

from __future__ import annotations

from bot.irc.accounts import Accounts
from bot.irc.names import Casemap
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


def test_accounts_on_their_own():
    accounts = Accounts(Casemap())
    accounts.learn("Alice", "alice_acct")
    accounts.learn("bob", "*")
    assert accounts.of("ALICE") == "alice_acct" and accounts.of("bob") is None and accounts.of("x") is None
    accounts.renamed("alice", "Alice2")
    assert accounts.of("alice") is None and accounts.of("alice2") == "alice_acct"
    accounts.renamed("nobody", "somebody")
    assert accounts.of("somebody") is None
    assert accounts.for_message("alice2", {"account": "tagged"}) == "tagged"  # the tag wins
    assert accounts.for_message("alice2", {"account": None}) is None  # a tag without value: not logged in
    assert accounts.for_message("alice2", {}) == "alice_acct"
    accounts.forget("ALICE2")
    assert accounts.for_message("alice2", {}) is None

"""What people and the server say to us and about channels, for `bot.irc.session` (pure): messages
(with CTCP queries and the IRCv3 bot tag), our own echoed or replayed messages, INVITE, channel MODE
and refused sends. Handlers of the session's dispatch table, kept here for its size."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.irc.ctcp import ctcp_queries
from bot.irc.names import is_channel
from bot.irc.parse import Message, ctcp_texts
from bot.irc.protocol import Action, CtcpQuery, Incoming, OwnMessage, SendRefused

if TYPE_CHECKING:
    from bot.irc.session import IrcSession

#: Message tags that mark the sender as a bot (IRCv3 bot mode; InspIRCd's own name for it).
BOT_TAGS = ("bot", "draft/bot", "inspircd.org/bot")


def on_cannot_send(session: IrcSession, msg: Message, now: float) -> list[Action]:
    args = msg.params[1:]
    if not args:
        return []
    reason = f"{msg.name}: {args[-1] if len(args) > 1 else ''}".strip()
    return [SendRefused(args[0], reason, msg.tags.get("label"))]


def on_privmsg(session: IrcSession, msg: Message, now: float) -> list[Action]:
    """To a channel or to us; CTCP parts are not messages, NOTICEs are never answered."""
    nick = msg.mask.nick
    if len(msg.params) < 2 or not nick:
        return []
    if session.nicks.is_me(nick):
        return on_own(session, msg, now)
    target, mask = msg.params[0], str(msg.source)
    account = session.accounts.for_message(nick, msg.tags)
    bot = any(tag in msg.tags for tag in BOT_TAGS)
    private = not is_channel(target)
    out: list[Action] = [CtcpQuery(nick, mask, c, a) for c, a in ctcp_queries(msg.params[1])]
    return out + [
        Incoming(mask, nick, target, text, private=private, account=account, from_bot=bot)
        for text in ctcp_texts(msg.params[1])
    ]


def on_own(session: IrcSession, msg: Message, now: float) -> list[Action]:
    """Our own PRIVMSG/NOTICE: an echo (echo-message) or a line of channel history replayed."""
    if msg.mask.nick is None or not session.nicks.is_me(msg.mask.nick) or len(msg.params) < 2:
        return []
    return [OwnMessage(msg.params[0], msg.params[1], msg.tags.get("label"))]


def on_invite(session: IrcSession, msg: Message, now: float) -> list[Action]:
    if not session.nicks.is_me(msg.param(0)):
        return []
    return session.membership.on_invite(msg.param(1), msg.mask.nick or "?", now)


def on_mode(session: IrcSession, msg: Message, now: float) -> list[Action]:
    if not is_channel(msg.param(0)):
        return []
    return session.membership.on_mode(msg.param(0), msg.params[1:], session.lower(session.nick))

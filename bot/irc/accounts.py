"""Who is logged in as whom, pure, for admin checks: the IRCv3 account-tag on a message wins; else what
extended-join (``JOIN #c account :realname``) and account-notify (``ACCOUNT name`` / ``ACCOUNT *``)
said, kept across NICK changes and forgotten at QUIT."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.irc.names import Casemap


@dataclass
class Accounts:
    casemap: Casemap
    _by_nick: dict[str, str | None] = field(default_factory=dict)

    def learn(self, nick: str, account: str) -> None:
        """`account` as a server sends it: "*" means not logged in."""
        self._by_nick[self.casemap.lower(nick)] = None if account == "*" else account

    def renamed(self, old: str, new: str) -> None:
        key = self.casemap.lower(old)
        if key in self._by_nick:
            self._by_nick[self.casemap.lower(new)] = self._by_nick.pop(key)

    def forget(self, nick: str) -> None:
        self._by_nick.pop(self.casemap.lower(nick), None)

    def of(self, nick: str) -> str | None:
        return self._by_nick.get(self.casemap.lower(nick))

    def for_message(self, nick: str, tags: Mapping[str, str | None]) -> str | None:
        """The account of a message's sender: its account tag, else what we know; None when unknown or
        not logged in."""
        account = tags.get("account") if "account" in tags else self.of(nick)
        return account or None

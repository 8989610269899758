"""`[[outputs]] kind = "irc"`: one output = one network connection, with its channels.

Read here with the same rules as the rest of the config: every key has a default or is required,
unknown keys are errors, errors name the file and key path, secrets only through `*_env` keys (read
when connecting, never stored or printed). `bot.irc.config` turns an `IrcOutput` into the settings
the IRC client, session and command router take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.config.filters import Filter, parse_filter
from bot.config.table import Table, is_loopback

DEFAULT_NICK = "release-bot"
DEFAULT_REALNAME = "release-bot: release announcements"

SaslMechanism = Literal["PLAIN", "EXTERNAL", "SCRAM-SHA-256"]
UnknownCommand = Literal["hint", "silent"]
_UNKNOWN_COMMAND: tuple[UnknownCommand, ...] = ("hint", "silent")
_NICK = re.compile(r"^[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]{0,29}$")
_USER = re.compile(r"^[A-Za-z0-9_.-]{1,10}$")
_CHANNEL = re.compile(r"^[#&+!][^\s,\x00-\x1f\x7f]{1,49}$")
_HOST = re.compile(r"^[A-Za-z0-9.:-]+$")


@dataclass(frozen=True)
class IrcChannel:
    name: str
    filter: Filter
    key_env: str | None = None
    notice: bool = False


@dataclass(frozen=True, kw_only=True)
class IrcOutput:
    """One `[[outputs]] kind = "irc"` table. The defaults are the documented ones."""

    name: str
    filter: Filter
    kind: Literal["irc"] = "irc"
    channels: tuple[IrcChannel, ...]
    # the connection
    host: str
    port: int = 6697
    tls: bool = True
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    connect_timeout: float = 30.0
    reconnect_initial: float = 5.0
    reconnect_max: float = 300.0
    flood_burst: int = 4
    flood_interval: float = 2.0
    # who the bot is, and how it logs in
    nick: str = DEFAULT_NICK
    alt_nicks: tuple[str, ...] = ()
    username: str = DEFAULT_NICK[:10]  # USERLEN is 10 on most networks
    realname: str = DEFAULT_REALNAME
    server_password_env: str | None = None
    sasl: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = None
    sasl_required: bool = True
    sasl_timeout: float = 15.0
    nickserv_password_env: str | None = None
    allow_insecure_auth: bool = False
    # behaviour
    prefix: str = "!"
    unknown_command: UnknownCommand = "silent"
    address_asker: bool = True
    repeat_window: float = 5.0
    ignore: tuple[str, ...] = ()
    lts_eol_after_days: float | None = 180.0
    join_retry: float = 1.0
    join_retry_max: float = 4.0
    rejoin_on_kick: bool = True
    rejoin_delay: float = 10.0
    bot_mode: bool = True
    backlog_summary_threshold: int = 5
    user_rate_burst: int = 3
    user_rate_interval: float = 10.0
    channel_rate_burst: int = 5
    channel_rate_interval: float = 4.0
    admin_accounts: tuple[str, ...] = ()
    admin_hostmasks: tuple[str, ...] = ()
    ping_interval: float = 90.0
    ping_timeout: float = 60.0
    quit_message: str = "release-bot stopping"

    def secret_names(self) -> list[tuple[str, str]]:
        """(key, environment variable) of every secret this output sends to the server."""
        sasl_env = self.sasl_password_env if self.sasl in ("PLAIN", "SCRAM-SHA-256") else None
        named = [
            ("server_password_env", self.server_password_env),
            ("sasl_password_env", sasl_env),
            ("nickserv_password_env", self.nickserv_password_env),
            *((f"channels[{i}].key_env", c.key_env) for i, c in enumerate(self.channels)),
        ]
        return [(key, env) for key, env in named if env]


def _nick(table: Table, name: str, value: str) -> str:
    if not _NICK.match(value):
        raise table.error(name, f"not a valid IRC nick (letters, digits, - [ ] \\ ` _ ^ {{ | }}): {value!r}")
    return value


def _channel(table: Table, source_names: list[str], inherited: Filter) -> IrcChannel:
    name = table.string("name")
    if not _CHANNEL.match(name):
        raise table.error("name", f'expected a channel name like "#flatcar", got {name!r}')
    has_filter = table.has("filter")
    found = parse_filter(table, source_names)
    channel = IrcChannel(
        name=name,
        filter=found if has_filter else inherited,
        key_env=table.env_name("key_env"),
        notice=table.boolean("notice", False),
    )
    table.finish()
    return channel


def _sasl(table: Table) -> SaslMechanism | None:
    raw = table.string("sasl", "none")
    if raw.upper() == "PLAIN":
        return "PLAIN"
    if raw.upper() == "EXTERNAL":
        return "EXTERNAL"
    if raw.upper() == "SCRAM-SHA-256":
        return "SCRAM-SHA-256"
    if raw.upper() != "NONE":
        raise table.error(
            "sasl", f"expected one of 'none', 'PLAIN', 'SCRAM-SHA-256', 'EXTERNAL', got {raw!r}"
        )
    return None


def parse_irc(table: Table, base: Path, *, name: str, source_names: list[str], filter: Filter) -> IrcOutput:
    """An IRC output's keys (the caller checks for unknown keys afterwards)."""
    host = table.string("host")
    if not _HOST.match(host):
        raise table.error("host", f"expected a host name or address, got {host!r}")
    tls = table.boolean("tls", True)
    port = table.port("port", 6697 if tls else 6667)
    ca_file = table.existing_file("ca_file", base)
    client_cert = table.existing_file("client_cert", base)
    client_key = table.existing_file("client_key", base)
    if client_key is not None and client_cert is None:
        raise table.error("client_key", "client_key needs client_cert")
    if (ca_file or client_cert) and not tls:
        raise table.error("tls", "ca_file and client_cert need tls = true")

    nick = _nick(table, "nick", table.string("nick", DEFAULT_NICK))
    alt_nicks = table.str_list("alt_nicks")
    for i, alt in enumerate(alt_nicks):
        _nick(table, f"alt_nicks[{i}]", alt)
    username = table.string("username", nick[:10])
    if not _USER.match(username):
        raise table.error("username", f"expected 1-10 letters, digits, '.', '_' or '-', got {username!r}")

    sasl = _sasl(table)
    sasl_password_env = table.env_name("sasl_password_env")
    if sasl in ("PLAIN", "SCRAM-SHA-256") and sasl_password_env is None:
        raise table.error(
            "sasl_password_env", f'sasl = "{sasl}" needs sasl_password_env (the password\'s variable)'
        )
    if sasl == "EXTERNAL" and client_cert is None:
        raise table.error("client_cert", 'sasl = "EXTERNAL" needs client_cert (and tls = true)')
    prefix = table.string("prefix", "!")
    if not prefix or len(prefix) > 5 or any(c.isspace() or ord(c) < 32 for c in prefix):
        raise table.error("prefix", f"expected 1-5 characters without spaces, got {prefix!r}")

    admins = table.table("admins")
    admin_accounts = admins.str_list("accounts")
    admin_hostmasks = admins.str_list("hostmasks")
    for i, mask in enumerate(admin_hostmasks):
        if "!" not in mask or "@" not in mask:
            raise admins.error(
                f"hostmasks[{i}]", f'expected a mask like "nick!user@host" (* and ? allowed), got {mask!r}'
            )
    admins.finish()
    ignore = table.str_list("ignore")
    for i, mask in enumerate(ignore):
        if not mask or any(c.isspace() for c in mask):
            raise table.error(
                f"ignore[{i}]", f'expected a nick or a mask like "*!*@bots.example", got {mask!r}'
            )
    eol_days = table.integer("lts_eol_after_days", 180, minimum=0)  # 0: never by age

    channels = [_channel(t, source_names, filter) for t in table.tables("channels")]
    if not channels:
        raise table.error(
            "channels", 'no channels; add at least one [[outputs.channels]] with name = "#channel"'
        )
    seen: set[str] = set()
    for i, channel in enumerate(channels):
        if channel.name.lower() in seen:
            raise table.error(f"channels[{i}].name", f"duplicate channel {channel.name!r}")
        seen.add(channel.name.lower())

    output = IrcOutput(
        name=name,
        filter=filter,
        channels=tuple(channels),
        host=host,
        port=port,
        tls=tls,
        ca_file=ca_file,
        client_cert=client_cert,
        client_key=client_key,
        connect_timeout=table.duration("connect_timeout", 30.0, minimum=1.0),
        reconnect_initial=table.duration("reconnect_initial", 5.0, minimum=0.1),
        reconnect_max=table.duration("reconnect_max", 300.0, minimum=0.1),
        flood_burst=table.integer("flood_burst", 4, minimum=1),
        flood_interval=table.duration("flood_interval", 2.0, minimum=0.1),
        nick=nick,
        alt_nicks=alt_nicks,
        username=username,
        realname=table.string("realname", DEFAULT_REALNAME),
        server_password_env=table.env_name("server_password_env"),
        sasl=sasl,
        sasl_username=table.optional_string("sasl_username"),
        sasl_password_env=sasl_password_env,
        sasl_required=table.boolean("sasl_required", True),
        sasl_timeout=table.duration("sasl_timeout", 15.0, minimum=1.0),
        nickserv_password_env=table.env_name("nickserv_password_env"),
        allow_insecure_auth=table.boolean("allow_insecure_auth", False),
        prefix=prefix,
        unknown_command=table.choice("unknown_command", _UNKNOWN_COMMAND, "silent"),
        address_asker=table.boolean("address_asker", True),
        repeat_window=table.duration("repeat_window", 5.0, minimum=0.0),
        ignore=ignore,
        lts_eol_after_days=float(eol_days) if eol_days else None,
        join_retry=table.duration("join_retry", 1.0, minimum=0.1),
        join_retry_max=table.duration("join_retry_max", 4.0, minimum=0.1),
        rejoin_on_kick=table.boolean("rejoin_on_kick", True),
        rejoin_delay=table.duration("rejoin_delay", 10.0, minimum=0.0),
        bot_mode=table.boolean("bot_mode", True),
        backlog_summary_threshold=table.integer("backlog_summary_threshold", 5, minimum=2),
        user_rate_burst=table.integer("user_rate_burst", 3, minimum=1),
        user_rate_interval=table.duration("user_rate_interval", 10.0, minimum=0.1),
        channel_rate_burst=table.integer("channel_rate_burst", 5, minimum=1),
        channel_rate_interval=table.duration("channel_rate_interval", 4.0, minimum=0.1),
        admin_accounts=admin_accounts,
        admin_hostmasks=admin_hostmasks,
        ping_interval=table.duration("ping_interval", 90.0, minimum=1.0),
        ping_timeout=table.duration("ping_timeout", 60.0, minimum=1.0),
        quit_message=table.string("quit_message", "release-bot stopping"),
    )
    _refuse_plaintext_secrets(table, output)
    return output


def _refuse_plaintext_secrets(table: Table, output: IrcOutput) -> None:
    """Passwords (PASS, SASL PLAIN, NickServ) and channel keys travel in clear text without TLS:
    refused towards anything but this machine unless `allow_insecure_auth = true` says it is meant.
    (SASL EXTERNAL needs TLS anyway.)"""
    if output.tls or output.allow_insecure_auth or is_loopback(output.host):
        return
    secrets = output.secret_names()
    if secrets:
        key, env = secrets[0]
        raise table.error(
            key,
            f"refusing to send the secret in ${env} unencrypted to {output.host!r}: use tls = true, or set "
            "allow_insecure_auth = true if this network is trusted",
        )

"""The `[[outputs]] kind = "irc"` table: one output = one network connection, with its channels.

Parsed by `bot.config` (which calls `parse_irc`), with the same rules as the rest of the config:
every key has a default or is required, unknown keys are errors, errors name the file and key path,
secrets only through `*_env` keys (read when connecting, never stored or printed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bot.config import Route, _route, _Table, secret
from bot.irc.client import ConnectSettings
from bot.irc.protocol import ChannelJoin, SaslMechanism, SessionConfig
from bot.irc.router import RouterConfig, UnknownCommand

DEFAULT_NICK = "release-bot"
DEFAULT_REALNAME = "release-bot: release announcements"

_NICK = re.compile(r"^[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]{0,29}$")
_USER = re.compile(r"^[A-Za-z0-9_.-]{1,10}$")
_CHANNEL = re.compile(r"^[#&+!][^\s,\x00-\x1f\x7f]{1,49}$")
_HOST = re.compile(r"^[A-Za-z0-9.:-]+$")


@dataclass(frozen=True)
class IrcChannel:
    name: str
    route: Route
    key_env: str | None = None
    notice: bool = False


@dataclass(frozen=True)
class IrcSettings:
    connect: ConnectSettings
    channels: tuple[IrcChannel, ...]
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
    prefix: str = "!"
    unknown_command: UnknownCommand = "hint"
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

    def session_config(self) -> SessionConfig:
        """The session settings, with the secrets read from the environment now."""
        return SessionConfig(
            nick=self.nick,
            username=self.username,
            realname=self.realname,
            channels=tuple(
                ChannelJoin(c.name, secret(c.key_env) if c.key_env else None) for c in self.channels
            ),
            alt_nicks=self.alt_nicks,
            server_password=secret(self.server_password_env) if self.server_password_env else None,
            sasl=self.sasl,
            sasl_username=self.sasl_username or self.nick,
            sasl_password=secret(self.sasl_password_env) if self.sasl_password_env else None,
            sasl_required=self.sasl_required,
            sasl_timeout=self.sasl_timeout,
            nickserv_password=secret(self.nickserv_password_env) if self.nickserv_password_env else None,
            rejoin_on_kick=self.rejoin_on_kick,
            rejoin_delay=self.rejoin_delay,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            bot_mode=self.bot_mode,
        )

    def missing_secrets(self) -> list[str]:
        """Environment variables named by this output that are not set (shown, not fatal)."""
        names = [self.server_password_env, self.sasl_password_env, self.nickserv_password_env]
        names += [c.key_env for c in self.channels]
        return [n for n in names if n and secret(n) is None]

    def router_config(self) -> RouterConfig:
        return RouterConfig(
            prefix=self.prefix,
            unknown_command=self.unknown_command,
            user_burst=self.user_rate_burst,
            user_interval=self.user_rate_interval,
            channel_burst=self.channel_rate_burst,
            channel_interval=self.channel_rate_interval,
            admin_accounts=self.admin_accounts,
            admin_hostmasks=self.admin_hostmasks,
        )


def _bool(table: _Table, name: str, default: bool) -> bool:
    value: bool = table.get(name, bool, default, what="true or false")
    return value


def _env_name(table: _Table, name: str) -> str | None:
    value: str | None = table.string(name, None)
    if value is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
        raise table.error(name, f"expected the name of an environment variable, got {value!r}")
    return value


def _nick(table: _Table, name: str, value: str) -> str:
    if not _NICK.match(value):
        raise table.error(name, f"not a valid IRC nick (letters, digits, - [ ] \\ ` _ ^ {{ | }}): {value!r}")
    return value


def _file(table: _Table, name: str, base: Path) -> Path | None:
    path: Path | None = table.path(name, base, None)
    if path is not None and not path.is_file():
        raise table.error(name, f"file not found: {path}")
    return path


def _channel(table: _Table, source_names: Sequence[str], inherited: Route) -> IrcChannel:
    name: str = table.string("name")
    if not _CHANNEL.match(name):
        raise table.error("name", f'expected a channel name like "#flatcar", got {name!r}')
    has_filter = "filter" in table.data
    route = _route(table, source_names)
    channel = IrcChannel(
        name=name,
        route=route if has_filter else inherited,
        key_env=_env_name(table, "key_env"),
        notice=_bool(table, "notice", False),
    )
    table.finish()
    return channel


def parse_irc(table: _Table, base: Path, *, source_names: Sequence[str], route: Route) -> IrcSettings:
    """Read an IRC output's keys from `table` (the caller checks for unknown keys afterwards)."""
    host: str = table.string("host")
    if not _HOST.match(host):
        raise table.error("host", f"expected a host name or address, got {host!r}")
    tls = _bool(table, "tls", True)
    port: int = table.integer("port", 6697 if tls else 6667, minimum=1)
    if port > 65535:
        raise table.error("port", f"expected a port number 1-65535, got {port}")
    ca_file = _file(table, "ca_file", base)
    client_cert = _file(table, "client_cert", base)
    client_key = _file(table, "client_key", base)
    if client_key is not None and client_cert is None:
        raise table.error("client_key", "client_key needs client_cert")
    if (ca_file or client_cert) and not tls:
        raise table.error("tls", "ca_file and client_cert need tls = true")

    nick = _nick(table, "nick", table.string("nick", DEFAULT_NICK))
    alt_nicks = table.str_list("alt_nicks", ())
    for i, alt in enumerate(alt_nicks):
        _nick(table, f"alt_nicks[{i}]", alt)
    username: str = table.string("username", nick[:10])
    if not _USER.match(username):
        raise table.error("username", f"expected 1-10 letters, digits, '.', '_' or '-', got {username!r}")
    realname: str = table.string("realname", DEFAULT_REALNAME)

    raw_sasl: str = table.string("sasl", "none")
    if raw_sasl.upper() not in ("NONE", "PLAIN", "EXTERNAL"):
        raise table.error("sasl", f"expected one of 'none', 'PLAIN', 'EXTERNAL', got {raw_sasl!r}")
    sasl: SaslMechanism | None = None
    if raw_sasl.upper() == "PLAIN":
        sasl = "PLAIN"
    elif raw_sasl.upper() == "EXTERNAL":
        sasl = "EXTERNAL"
    sasl_username: str | None = table.string("sasl_username", None)
    sasl_password_env = _env_name(table, "sasl_password_env")
    if sasl == "PLAIN" and sasl_password_env is None:
        raise table.error(
            "sasl_password_env", 'sasl = "PLAIN" needs sasl_password_env (the password\'s variable)'
        )
    if sasl == "EXTERNAL" and client_cert is None:
        raise table.error("client_cert", 'sasl = "EXTERNAL" needs client_cert (and tls = true)')
    unknown: Literal["hint", "silent"] = table.string("unknown_command", "hint", choices=("hint", "silent"))
    prefix: str = table.string("prefix", "!")
    if not prefix or len(prefix) > 5 or any(c.isspace() or ord(c) < 32 for c in prefix):
        raise table.error("prefix", f"expected 1-5 characters without spaces, got {prefix!r}")

    admins = table.table("admins")
    admin_accounts = admins.str_list("accounts", ())
    admin_hostmasks = admins.str_list("hostmasks", ())
    for i, mask in enumerate(admin_hostmasks):
        if "!" not in mask or "@" not in mask:
            raise admins.error(
                f"hostmasks[{i}]", f'expected a mask like "nick!user@host" (* and ? allowed), got {mask!r}'
            )
    admins.finish()

    channels = [_channel(t, source_names, route) for t in table.tables("channels")]
    if not channels:
        raise table.error(
            "channels", 'no channels; add at least one [[outputs.channels]] with name = "#channel"'
        )
    seen: set[str] = set()
    for i, channel in enumerate(channels):
        if channel.name.lower() in seen:
            raise table.error(f"channels[{i}].name", f"duplicate channel {channel.name!r}")
        seen.add(channel.name.lower())

    connect = ConnectSettings(
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
    )
    return IrcSettings(
        connect=connect,
        channels=tuple(channels),
        nick=nick,
        alt_nicks=alt_nicks,
        username=username,
        realname=realname,
        server_password_env=_env_name(table, "server_password_env"),
        sasl=sasl,
        sasl_username=sasl_username,
        sasl_password_env=sasl_password_env,
        sasl_required=_bool(table, "sasl_required", True),
        sasl_timeout=table.duration("sasl_timeout", 15.0, minimum=1.0),
        nickserv_password_env=_env_name(table, "nickserv_password_env"),
        prefix=prefix,
        unknown_command=unknown,
        rejoin_on_kick=_bool(table, "rejoin_on_kick", True),
        rejoin_delay=table.duration("rejoin_delay", 10.0, minimum=0.0),
        bot_mode=_bool(table, "bot_mode", True),
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


def irc_settings(options: Any) -> IrcSettings:
    """The IrcSettings stored in an OutputConfig's options."""
    settings = options["irc"]
    assert isinstance(settings, IrcSettings)
    return settings

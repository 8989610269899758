"""An IRC output (`bot.config.IrcOutput`, read and checked by `bot.config`) as the IRC client,
session and command router take it. Secrets are read from the environment when asked for, never
stored."""

from __future__ import annotations

from dataclasses import dataclass

from bot import __version__
from bot.config import IrcChannel, IrcOutput, secret
from bot.irc.client import ConnectSettings
from bot.irc.protocol import ChannelJoin, SessionConfig
from bot.irc.router import RouterConfig

__all__ = ["IrcChannel", "IrcSettings", "irc_settings"]


@dataclass(frozen=True)
class IrcSettings:
    """One IRC output's settings for the network code."""

    output: IrcOutput

    @property
    def connect(self) -> ConnectSettings:
        o = self.output
        return ConnectSettings(
            host=o.host,
            port=o.port,
            tls=o.tls,
            ca_file=o.ca_file,
            client_cert=o.client_cert,
            client_key=o.client_key,
            connect_timeout=o.connect_timeout,
            reconnect_initial=o.reconnect_initial,
            reconnect_max=o.reconnect_max,
            flood_burst=o.flood_burst,
            flood_interval=o.flood_interval,
        )

    @property
    def channels(self) -> tuple[IrcChannel, ...]:
        return self.output.channels

    @property
    def prefix(self) -> str:
        return self.output.prefix

    @property
    def quit_message(self) -> str:
        return self.output.quit_message

    @property
    def backlog_summary_threshold(self) -> int:
        return self.output.backlog_summary_threshold

    def session_config(self) -> SessionConfig:
        """The session settings, with the secrets read from the environment now."""
        o = self.output
        return SessionConfig(
            nick=o.nick,
            username=o.username,
            realname=o.realname,
            channels=tuple(ChannelJoin(c.name, secret(c.key_env) if c.key_env else None) for c in o.channels),
            alt_nicks=o.alt_nicks,
            server_password=secret(o.server_password_env) if o.server_password_env else None,
            sasl=o.sasl,
            sasl_username=o.sasl_username or o.nick,
            sasl_password=secret(o.sasl_password_env) if o.sasl_password_env else None,
            sasl_required=o.sasl_required,
            sasl_timeout=o.sasl_timeout,
            nickserv_password=secret(o.nickserv_password_env) if o.nickserv_password_env else None,
            rejoin_on_kick=o.rejoin_on_kick,
            rejoin_delay=o.rejoin_delay,
            join_retry=o.join_retry,
            join_retry_max=o.join_retry_max,
            version=f"release-bot {__version__}",
            ping_interval=o.ping_interval,
            ping_timeout=o.ping_timeout,
            bot_mode=o.bot_mode,
        )

    def missing_secrets(self) -> list[str]:
        """Environment variables named by this output that are not set (shown, not fatal)."""
        o = self.output
        names = [o.server_password_env, o.sasl_password_env, o.nickserv_password_env]
        names += [c.key_env for c in o.channels]
        return [n for n in names if n and secret(n) is None]

    def router_config(self) -> RouterConfig:
        o = self.output
        return RouterConfig(
            prefix=o.prefix,
            unknown_command=o.unknown_command,
            user_burst=o.user_rate_burst,
            user_interval=o.user_rate_interval,
            channel_burst=o.channel_rate_burst,
            channel_interval=o.channel_rate_interval,
            admin_accounts=o.admin_accounts,
            admin_hostmasks=o.admin_hostmasks,
            address_asker=o.address_asker,
            repeat_window=o.repeat_window,
            ignore=o.ignore,
        )


def irc_settings(output: IrcOutput) -> IrcSettings:
    """The settings of one IRC output."""
    return IrcSettings(output)

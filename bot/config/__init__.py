"""The TOML configuration, read into typed, frozen objects.

Every error names the file, the key path and what was expected; unknown keys are errors (a typo must
not be silently ignored); relative paths resolve against the config file's folder; secrets come only
from environment variables named by `*_env` keys and are never printed.

Modules: `table` (the typed TOML table reader), `filters` (`Filter`, the `filter` tables),
`sources` (one dataclass per source kind), `mail` and `irc` (those outputs' settings), `outputs`
(one dataclass per output kind), `load` (the whole file, secrets, masking). A kind's module is
imported only when the file has a table of that kind (see `outputs.OUTPUT_KIND_MODULES`); the
names of those modules exported here are loaded on first use. This package imports no
other part of the bot except `bot.errors`, `bot.model` and `bot.channels`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config.filters import Filter, parse_filter
from bot.config.load import DEFAULT_USER_AGENT, Config, HttpConfig, load_config, masked, parse_config, secret
from bot.config.outputs import ConsoleOutput, MailOutput, MboxOutput
from bot.config.sources import (
    DEFAULT_FLATCAR_BASE_URL,
    DEFAULT_GITHUB_API,
    DEFAULT_GITHUB_GRAPHQL,
    ROADMAP_KINDS,
    SOURCE_KINDS,
    FeedSource,
    FlatcarSource,
    GithubIssuesSource,
    GithubProjectSource,
    GithubSource,
    ReleaseSource,
    RoadmapFeedSource,
    RoadmapSource,
    SourceConfig,
)
from bot.config.table import Table

if TYPE_CHECKING:
    from bot.config.http_server import HttpServerConfig
    from bot.config.irc import IrcChannel, IrcOutput
    from bot.config.mail import DigestConfig, MailConfig, mail_address
    from bot.config.outputs import OutputConfig

#: Names whose module is imported when first asked for (a config without mail or IRC outputs never
#: imports them): name -> module.
_LAZY = {
    "HttpServerConfig": "bot.config.http_server",
    "IrcChannel": "bot.config.irc",
    "IrcOutput": "bot.config.irc",
    "DigestConfig": "bot.config.mail",
    "MailConfig": "bot.config.mail",
    "mail_address": "bot.config.mail",
    "OutputConfig": "bot.config.outputs",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_FLATCAR_BASE_URL",
    "DEFAULT_GITHUB_API",
    "DEFAULT_GITHUB_GRAPHQL",
    "DEFAULT_USER_AGENT",
    "ROADMAP_KINDS",
    "SOURCE_KINDS",
    "Config",
    "ConsoleOutput",
    "DigestConfig",
    "FeedSource",
    "Filter",
    "FlatcarSource",
    "GithubIssuesSource",
    "GithubProjectSource",
    "GithubSource",
    "HttpConfig",
    "HttpServerConfig",
    "IrcChannel",
    "IrcOutput",
    "MailConfig",
    "MailOutput",
    "MboxOutput",
    "OutputConfig",
    "ReleaseSource",
    "RoadmapFeedSource",
    "RoadmapSource",
    "SourceConfig",
    "Table",
    "load_config",
    "mail_address",
    "masked",
    "parse_config",
    "parse_filter",
    "secret",
]

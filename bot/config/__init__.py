"""The TOML configuration, read into typed, frozen objects.

Every error names the file, the key path and what was expected; unknown keys are errors (a typo must
not be silently ignored); relative paths resolve against the config file's folder; secrets come only
from environment variables named by `*_env` keys and are never printed.

Modules: `table` (the typed TOML table reader), `filters` (`Filter`, the `filter` tables),
`sources` (one dataclass per source kind), `mail` and `irc` (those outputs' settings), `outputs`
(one dataclass per output kind), `load` (the whole file, secrets, masking). This package imports no
other part of the bot except `bot.errors`, `bot.model` and `bot.channels`.
"""

from __future__ import annotations

from bot.config.filters import Filter, parse_filter
from bot.config.http_server import HttpServerConfig
from bot.config.irc import IrcChannel, IrcOutput
from bot.config.load import DEFAULT_USER_AGENT, Config, HttpConfig, load_config, masked, parse_config, secret
from bot.config.mail import DigestConfig, MailConfig, mail_address
from bot.config.outputs import ConsoleOutput, MailOutput, MboxOutput, OutputConfig
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

"""The Apprise output's config and URL list (pure)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.config.apprise import AppriseOutput
from bot.errors import ConfigError
from bot.sinks.apprise import apprise_urls

BASE = '[[sources]]\nname = "flatcar"\nkind = "flatcar"\n[[outputs]]\nname = "tail"\nkind = "apprise"\n'


def test_config_needs_the_variable() -> None:
    output = parse_config(tomllib.loads(BASE + 'urls_env = "APPRISE_URLS"\n'), path=Path("c.toml")).outputs[0]
    assert isinstance(output, AppriseOutput) and output.urls_env == "APPRISE_URLS"
    with pytest.raises(ConfigError, match=r"c.toml: outputs\[0\].urls_env: required"):
        parse_config(tomllib.loads(BASE), path=Path("c.toml"))
    with pytest.raises(ConfigError, match=r"outputs\[0\].urls: unknown key"):
        parse_config(tomllib.loads(BASE + 'urls_env = "A"\nurls = "slack://x"\n'), path=Path("c.toml"))


def test_urls_split_on_space_comma_newline() -> None:
    assert apprise_urls(" ntfy://a ,slack://b/c\njson://h/p  ") == ["ntfy://a", "slack://b/c", "json://h/p"]
    assert apprise_urls("") == []

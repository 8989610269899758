"""Shared fixtures. The local HTTP server is real (stdlib http.server on 127.0.0.1)."""

from __future__ import annotations

import pytest

from tests.httpserver import http_server
from tests.ircnet import inspircd_net, irc_net, ngircd_server
from tests.postgres import pg_cluster, pg_url
from tests.smtpserver import smtp_certs, smtp_server

__all__ = [
    "http_server",
    "inspircd_net",
    "irc_net",
    "ngircd_server",
    "pg_cluster",
    "pg_url",
    "smtp_certs",
    "smtp_server",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ talks to real servers, sockets or processes: mark it, so
    `-m "not integration"` and `make test-fast` (tests/unit/) leave it out."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)

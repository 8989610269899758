"""Shared fixtures. The local HTTP server is real (stdlib http.server on 127.0.0.1)."""

from __future__ import annotations

from tests.httpserver import http_server
from tests.ircnet import inspircd_net, irc_net, ngircd_server
from tests.smtpserver import smtp_certs, smtp_server

__all__ = ["http_server", "inspircd_net", "irc_net", "ngircd_server", "smtp_certs", "smtp_server"]

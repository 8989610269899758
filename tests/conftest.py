"""Shared fixtures. The local HTTP server is real (stdlib http.server on 127.0.0.1)."""

from __future__ import annotations

from tests.httpserver import http_server

__all__ = ["http_server"]

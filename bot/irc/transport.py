"""Where and how the IRC client connects: host, port, TLS (verified against the system CAs or a CA
file, with an optional client certificate for SASL EXTERNAL / CertFP), timeouts, reconnect and flood
settings; and connection errors described for people."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConnectSettings:
    host: str
    port: int
    tls: bool = True
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    connect_timeout: float = 30.0
    reconnect_initial: float = 5.0
    reconnect_max: float = 300.0
    flood_burst: int = 4
    flood_interval: float = 2.0
    confirm_timeout: float = 60.0


def ssl_context(settings: ConnectSettings) -> ssl.SSLContext:
    """Certificate and host name verified against the system CAs, or `ca_file` when given."""
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if settings.client_cert:
        key = str(settings.client_key) if settings.client_key else None
        context.load_cert_chain(str(settings.client_cert), key)
    return context


def describe_error(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message or exc}"
    text = str(exc) or type(exc).__name__
    return text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"

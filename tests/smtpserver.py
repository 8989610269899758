"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 in a thread, with an ephemeral port.

Modes: "plain" (no TLS offered), "starttls" (offers STARTTLS and requires it before MAIL), "implicit"
(TLS from the first byte, like port 465). Optional AUTH (PLAIN/LOGIN) with one user and password.
Replies to MAIL, RCPT and DATA can be scripted (`script("DATA", "451 4.3.0 try later")`: the next
DATA gets that answer, later ones are accepted again); `reply_late(s)` stores each message but answers
its final "." `s` seconds later; `connections` counts sessions. The certificate is a self-signed one for
127.0.0.1/localhost made once per session with the `openssl` command.

Usage::

    def test_x(smtp_server: SMTPServerFactory) -> None:
        server = smtp_server(mode="starttls", auth=("bot", "secret"))
        ... send to 127.0.0.1:server.port with ca_file=server.certs.cert ...
        assert server.messages[0].message["Subject"] == "..."
"""

from __future__ import annotations

import asyncio
import email
import shutil
import ssl
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.helpers import free_port, require_or_skip

__all__ = [
    "Certs",
    "Received",
    "SMTPServerFactory",
    "SMTPTestServer",
    "free_port",
    "smtp_certs",
    "smtp_server",
]

Mode = Literal["plain", "starttls", "implicit"]


@dataclass(frozen=True)
class Certs:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certs(folder: Path) -> Certs:
    openssl = shutil.which("openssl")
    if openssl is None:
        require_or_skip("the openssl command is needed to make the test certificate")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            str(openssl),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "3",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return Certs(cert=cert, key=key)


@dataclass(frozen=True)
class Received:
    """One mail the server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # as received, CRLF line ends
    secure: bool  # the session was encrypted (implicit TLS or after STARTTLS)
    user: str | None  # who logged in, if anyone

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _State:
    messages: list[Received] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # MAIL/RCPT/DATA/AUTH as they arrived
    scripted: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    data_delay: float = 0.0  # seconds between storing a message and the reply to its final "."
    data_delays: int = 0  # how many more replies are late
    #: (Message-ID, when stored, when its reply was sent), monotonic clock: a client killed in between
    #: does not know the message was stored
    timeline: list[tuple[str, float, float]] = field(default_factory=list)
    connections: int = 0  # sessions that said EHLO/HELO first (STARTTLS's second EHLO not counted)

    def next_reply(self, command: str) -> str | None:
        with self.lock:
            self.commands.append(command)
            queue = self.scripted.get(command)
            return queue.pop(0) if queue else None


class _Handler:
    def __init__(self, state: _State, mode: Mode) -> None:
        self.state = state
        self.mode = mode

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        if session.host_name is None:  # the session's first EHLO (not the one after STARTTLS)
            with self.state.lock:
                self.state.connections += 1
        session.host_name = hostname  # aiosmtpd: a handle_EHLO hook must set it
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        reply = self.state.next_reply("MAIL")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.state.next_reply("RCPT")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = self.state.next_reply("DATA")
        if reply:
            return reply
        user = None
        if isinstance(session.auth_data, LoginPassword):
            user = session.auth_data.login.decode()
        received = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=bytes(envelope.original_content),
            secure=self.mode == "implicit" or session.ssl is not None,
            user=user,
        )
        stored = time.monotonic()
        with self.state.lock:
            self.state.messages.append(received)
            number = len(self.state.messages)
            delay = self.state.data_delay if self.state.data_delays > 0 else 0.0
            self.state.data_delays -= 1
        if delay:  # stored, but the reply to the final "." is late
            await asyncio.sleep(delay)
        with self.state.lock:
            self.state.timeline.append((str(received.message["Message-ID"]), stored, time.monotonic()))
        return f"250 2.0.0 OK queued as test-{number}"


class _Controller(Controller):
    """aiosmtpd's Controller, bound to port 0: the real port is read back after binding."""

    def factory(self) -> Any:
        with warnings.catch_warnings():
            # AUTH over implicit TLS: aiosmtpd only counts STARTTLS as TLS and warns
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            return super().factory()  # type: ignore[no-untyped-call]

    def _trigger_server(self) -> None:
        server: Any = self.server  # an asyncio.Server; typed as AbstractServer
        if server is not None and self.port == 0:
            self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SMTPTestServer:
    def __init__(
        self,
        *,
        mode: Mode = "plain",
        auth: tuple[str, str] | None = None,
        certs: Certs | None = None,
        port: int = 0,
    ) -> None:
        if mode != "plain" and certs is None:
            raise ValueError(f"mode {mode!r} needs certs")
        self.mode = mode
        self.auth = auth
        self.certs = certs
        self._port = port
        self._state = _State()
        self._controller: _Controller | None = None

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        with self._state.lock:
            self._state.commands.append("AUTH")
        ok = (
            self.auth is not None
            and isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == self.auth
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def start(self) -> None:
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {}
        if self.mode == "starttls":
            assert self.certs is not None
            kwargs.update(tls_context=self.certs.server_context(), require_starttls=True)
        elif self.mode == "implicit":
            assert self.certs is not None
            kwargs.update(ssl_context=self.certs.server_context())
        if self.auth is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                # with implicit TLS the whole session is encrypted; aiosmtpd only knows about STARTTLS
                auth_require_tls=self.mode == "starttls",
            )
        controller = _Controller(
            _Handler(self._state, self.mode),
            hostname="127.0.0.1",
            port=self._port,
            server_hostname="smtp.test",
            ready_timeout=10.0,
            **kwargs,
        )
        controller.start()
        self._port = controller.port
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def messages(self) -> list[Received]:
        with self._state.lock:
            return list(self._state.messages)

    @property
    def commands(self) -> list[str]:
        with self._state.lock:
            return list(self._state.commands)

    @property
    def connections(self) -> int:
        with self._state.lock:
            return self._state.connections

    def reply_late(self, seconds: float, *, times: int = 1) -> None:
        """Store the next `times` messages at once but answer their final "." only after `seconds`."""
        with self._state.lock:
            self._state.data_delay = seconds
            self._state.data_delays = times

    @property
    def timeline(self) -> list[tuple[str, float, float]]:
        """(Message-ID, stored at, replied at) per accepted message, `time.monotonic()` clock."""
        with self._state.lock:
            return list(self._state.timeline)

    def script(self, command: Literal["MAIL", "RCPT", "DATA"], *replies: str) -> None:
        """Answer the next `command`s with `replies` (one each), then accept again."""
        with self._state.lock:
            self._state.scripted.setdefault(command, []).extend(replies)


SMTPServerFactory = Callable[..., SMTPTestServer]


class _LazyCerts:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._certs: Certs | None = None
        self._lock = threading.Lock()

    def get(self) -> Certs:
        with self._lock:
            if self._certs is None:
                self._certs = make_certs(self.folder)
            return self._certs


@pytest.fixture(scope="session")
def smtp_certs(tmp_path_factory: pytest.TempPathFactory) -> _LazyCerts:
    """The session's self-signed certificate, made on first use (`smtp_certs.get()`)."""
    return _LazyCerts(tmp_path_factory.mktemp("smtp-certs"))


@pytest.fixture
def smtp_server(smtp_certs: _LazyCerts) -> Iterator[SMTPServerFactory]:
    """Start SMTP servers: `smtp_server(mode="starttls", auth=("bot", "pw"), port=…)`; all are stopped
    after the test. A TLS mode uses the session's certificate."""
    servers: list[SMTPTestServer] = []

    def start(*, mode: Mode = "plain", auth: tuple[str, str] | None = None, port: int = 0) -> SMTPTestServer:
        certs = smtp_certs.get() if mode != "plain" else None
        server = SMTPTestServer(mode=mode, auth=auth, certs=certs, port=port)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()

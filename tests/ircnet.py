"""A real IRC network on 127.0.0.1 for tests: InspIRCd 3 + Atheme 7.2 services, and ngIRCd.

Fixtures (re-exported by tests/conftest.py)::

    inspircd_net   session  InspIRCd with a plain and a TLS client port, Atheme services linked to it
                            (NickServ, SASL PLAIN and EXTERNAL). Accounts: testbot/testpass,
                            otherbot/otherpass; `client_cert`/`client_key` log in as testbot via EXTERNAL.
    irc_net        function The same server, guaranteed up (and services linked) when the test starts:
                            use this one in tests that may stop/restart the server.
    ngircd_server  session  ngIRCd, plain text only, no services (registration is instant there).

Usage::

    from tests.ircnet import IrcListener, IrcServer, try_sasl

    def test_announce(irc_net: IrcServer) -> None:
        with IrcListener(irc_net, "watcher", channels=["#releases"]) as watcher:
            ...  # point the bot at irc_net.host / irc_net.port (or tls_port + ca_file)
            watcher.wait_for(lambda line: "PRIVMSG #releases :" in line)
            times = [t for t, nick, target, text in watcher.privmsgs("#releases")]

    def test_server_dies(irc_net: IrcServer) -> None:
        irc_net.stop(kill=True)      # SIGKILL the ircd; Atheme stays up and relinks later
        irc_net.start()              # same ports; returns when SASL works again (~1 s)

A listener records every line it receives with a `time.monotonic()` timestamp (`lines`, `raw_lines`
for the exact bytes), answers PING itself, and `wait_for(pred)` returns the first matching line,
already received or future (`wait_for(pred, since=listener.mark())` only looks at later ones).
`privmsgs(target)` parses PRIVMSG/NOTICE into (time, nick, target, text). `send_raw(b"...")`
sends bytes as they are (e.g. latin-1 text). Registration on InspIRCd takes up to ~1 s by design
(it completes registrations once a second); on ngIRCd it is immediate.
`open_listeners(server, ["a", "b"], channels=[...])` registers several in parallel.

SASL: `IrcListener(net, "nick", sasl=("testbot", "testpass"))` logs in with PLAIN before
registering (`listener.account == "testbot"`); `sasl_external=True` connects with TLS and the
client certificate and uses EXTERNAL. A failed SASL raises unless `sasl_required=False`
(then see `listener.sasl_result`, e.g. "904"). `try_sasl(net, "testbot", "wrong")` -> ("904", None)
checks credentials without registering (fast); `try_sasl(net, external=True)` -> ("903", "testbot").

Server control: `stop(kill=False)` / `start()` / `restart(down_seconds)` act on the ircd only, on
the same ports; `stop_services()` / `start_services()` stop and start Atheme (SASL and NickServ
disappear: `CAP LS` no longer lists `sasl`). Logs are in `server.log_dir`.

Both servers have flood protection off (InspIRCd `fakelag="no"` and a huge `commandrate`; ngIRCd
`MaxPenaltyTime = 0`), so timestamps measure the client's own pacing. Both relay non-UTF-8 bytes.

When a server binary is missing the fixtures skip, unless RELEASE_BOT_REQUIRE_SERVERS=1 is set
(as in CI), which makes them fail instead. Debian packages: inspircd atheme-services ngircd openssl.

Processes are started with subprocess.Popen and stopped by pid at session end (Atheme by its
pidfile); a tiny watchdog process kills them if pytest itself dies without tearing down. Configs,
logs (`workdir/logs/`) and certificates live in a per-server tmp_path_factory directory.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import os
import secrets
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar

import pytest

from tests.helpers import REQUIRE_ENV, free_port, free_ports, require_or_skip

__all__ = [
    "REQUIRE_ENV",
    "IrcListener",
    "IrcServer",
    "inspircd_net",
    "irc_free_port",
    "irc_net",
    "ngircd_server",
    "open_listeners",
    "try_sasl",
]

_T = TypeVar("_T")

INSPIRCD_BIN = Path("/usr/sbin/inspircd")
ATHEME_BIN = Path("/usr/bin/atheme-services")
NGIRCD_BIN = Path("/usr/sbin/ngircd")
DEBIAN_PACKAGES = "inspircd atheme-services ngircd openssl"

HOST = "127.0.0.1"
INSPIRCD_NAME = "irc.test"
SERVICES_NAME = "services.test"
NGIRCD_NAME = "ngircd.test"
ACCOUNTS = {"testbot": "testpass", "otherbot": "otherpass"}
EXTERNAL_ACCOUNT = "testbot"

# numerics that end a SASL exchange (RFC-ish IRCv3 sasl-3.1)
_SASL_DONE = {"902", "903", "904", "905", "906", "907", "908"}
_REG_ERRORS = {"431", "432", "433", "436", "437", "451", "465", "484"}
_JOIN_ERRORS = {"403", "405", "437", "471", "473", "474", "475", "476", "477", "479"}


# --------------------------------------------------------------------------------------------------
# helpers


def irc_free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, close, reuse the number)."""
    return free_port()


def _require(*binaries: Path) -> None:
    """Skip (or, with RELEASE_BOT_REQUIRE_SERVERS=1, fail) when a binary is missing."""
    missing = [str(b) for b in binaries if not (b.is_file() and os.access(b, os.X_OK))]
    if shutil.which("openssl") is None:
        missing.append("openssl")
    if not missing:
        return
    require_or_skip(
        f"IRC test server binaries missing: {', '.join(missing)} (apt-get install -y {DEBIAN_PACKAGES})"
    )


@dataclass(frozen=True)
class _Message:
    tags: str
    prefix: str
    command: str
    params: list[str]

    @property
    def nick(self) -> str:
        return self.prefix.split("!", 1)[0]


def _parse(line: str) -> _Message:
    tags = prefix = ""
    rest = line
    if rest.startswith("@"):
        tags, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    if rest.startswith(":"):
        prefix, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    trailing: str | None = None
    if " :" in rest:
        rest, trailing = rest.split(" :", 1)
    elif rest.startswith(":"):
        rest, trailing = "", rest[1:]
    parts = rest.split()
    command = parts[0].upper() if parts else ""
    params = parts[1:]
    if trailing is not None:
        params.append(trailing)
    return _Message(tags, prefix, command, params)


def _run(cmd: list[str], cwd: Path) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip()}")


def _make_certs(tls: Path) -> tuple[Path, Path, Path, Path, str]:
    """Self-signed server cert (irc.test, localhost, 127.0.0.1) and a client cert for EXTERNAL.

    Returns (server.pem, server.key, client.pem, client.key, client SHA-256 fingerprint hex).
    """
    tls.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30"]
    server_pem, server_key = tls / "server.pem", tls / "server.key"
    client_pem, client_key = tls / "client.pem", tls / "client.key"
    _run(
        ["openssl", "req", "-x509", *ec, "-subj", f"/CN={INSPIRCD_NAME}", "-addext",
         f"subjectAltName=DNS:{INSPIRCD_NAME},DNS:localhost,IP:127.0.0.1",
         "-keyout", str(server_key), "-out", str(server_pem)],
        tls,
    )  # fmt: skip
    _run(
        ["openssl", "req", "-x509", *ec, "-subj", f"/CN={EXTERNAL_ACCOUNT}",
         "-keyout", str(client_key), "-out", str(client_pem)],
        tls,
    )  # fmt: skip
    # InspIRCd (<sslprofile hash="sha256">) reports the SHA-256 of the DER certificate to Atheme.
    der = ssl.PEM_cert_to_DER_cert(client_pem.read_text())
    return server_pem, server_key, client_pem, client_key, hashlib.sha256(der).hexdigest()


def _pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (orphans may be reaped slowly here)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("State:"):
            return "Z" not in line.split(":", 1)[1].split()[0]
    return True


def _set_subreaper(on: bool) -> None:
    """prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants get reparented to this process."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, int(on), 0, 0, 0)


def _reaped(pid: int) -> bool:
    """Reap `pid` if it is our (adopted) child and has exited; True when it is gone."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (or already reaped): look at /proc
        return not _pid_alive(pid)
    return done == pid


def _kill_pid(pid: int, sig: int, timeout: float = 5.0) -> None:
    """Signal a daemon (not a Popen child); escalate to SIGKILL after `timeout`; reap it if ours."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while not _reaped(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5.0
            sig = signal.SIGKILL
        time.sleep(0.02)


def _stop_child(proc: subprocess.Popen[bytes], kill: bool, timeout: float = 5.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class _Watchdog:
    """A child process that SIGKILLs the registered pids if pytest dies without tearing down.

    pytest holds the write end of its stdin; EOF (pytest gone, or `close_if_idle()`) makes it kill
    whatever is still registered. Normal teardown unregisters everything first.
    """

    _SCRIPT = (
        "import os, signal, sys\n"
        "pids = set()\n"
        "for line in sys.stdin:\n"
        "    op, _, pid = line.partition(' ')\n"
        "    (pids.add if op == 'add' else pids.discard)(int(pid))\n"
        "for pid in pids:\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n"
        "    except OSError:\n"
        "        pass\n"
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pids: set[int] = set()

    def _send(self, text: str) -> None:
        """Write to the watchdog (caller holds the lock), (re)starting it with all known pids."""
        if self._proc is None or self._proc.poll() is not None:
            if self._proc is not None:
                self._proc.wait()
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", self._SCRIPT],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # not hit by the terminal's Ctrl-C
            )
            text = "".join(f"add {pid}\n" for pid in self._pids) + text
        stdin = self._proc.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError):
            stdin.write(text.encode())
            stdin.flush()

    def add(self, pid: int) -> None:
        with self._lock:
            self._send(f"add {pid}\n")
            self._pids.add(pid)

    def discard(self, pid: int) -> None:
        with self._lock:
            if pid in self._pids:
                self._pids.discard(pid)
                self._send(f"del {pid}\n")

    def close_if_idle(self) -> None:
        """Let the watchdog exit once no process is registered any more (end of session)."""
        with self._lock:
            if self._pids:
                return
            proc, self._proc = self._proc, None
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


_WATCHDOG = _Watchdog()


# --------------------------------------------------------------------------------------------------
# configs

_INSPIRCD_CONF = """\
<define name="dir" value="{dir}">
<server name="{name}" description="Test IRC server" network="TestNet" id="@SID@">
<admin name="Test" nick="admin" email="admin@irc.test">

<bind address="127.0.0.1" port="{port}" type="clients">
<bind address="127.0.0.1" port="{tls_port}" type="clients" sslprofile="Clients">
<bind address="127.0.0.1" port="{link_port}" type="servers">

<connect name="main" allow="*" timeout="20" pingfreq="120" hardsendq="1M" softsendq="1M"
         recvq="64K" threshold="1000" commandrate="100000" fakelag="no"
         localmax="1000" globalmax="1000" useident="no" resolvehostnames="no">

<pid file="&dir;/run/inspircd.pid">
<files motd="&dir;/etc/motd.txt">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="&dir;/logs/inspircd.log">
<dns server="127.0.0.1" timeout="1">

<module name="cap">
<module name="ircv3">
<module name="ircv3_accounttag">
<module name="ircv3_capnotify">
<module name="ircv3_servertime">
<module name="ircv3_ctctags">
<module name="ircv3_batch">
<module name="ircv3_echomessage">
<module name="ircv3_labeledresponse">
<module name="ircv3_msgid">
<module name="botmode">
<module name="chanhistory">
<chanhistory maxlines="50" notice="no" prefixmsg="no" bots="yes">
<module name="sasl">
<module name="services_account">
<module name="spanningtree">
<module name="ssl_gnutls">
<module name="sslinfo">
<module name="chghost">
<module name="cban">
<module name="svshold">

<sslprofile name="Clients" provider="gnutls"
            certfile="&dir;/tls/server.pem" keyfile="&dir;/tls/server.key"
            hash="sha256" requestclientcert="yes">

<link name="{services}" ipaddr="127.0.0.1" port="{link_port}" allowmask="127.0.0.0/8"
      timeout="30" sendpass="{link_pass}" recvpass="{link_pass}">
<uline server="{services}" silent="yes">
<sasl target="{services}" requiressl="no">
"""

_ATHEME_CONF = """\
loadmodule "modules/protocol/inspircd";
loadmodule "modules/backend/opensex";
loadmodule "modules/crypto/pbkdf2v2";
loadmodule "modules/nickserv/main";
loadmodule "modules/nickserv/register";
loadmodule "modules/nickserv/identify";
loadmodule "modules/nickserv/cert";
loadmodule "modules/saslserv/main";
loadmodule "modules/saslserv/plain";
loadmodule "modules/saslserv/external";

serverinfo {{
	name = "{services}"; desc = "Atheme IRC Services"; numeric = "00A";
	recontime = 1; netname = "TestNet"; hidehostsuffix = "users.test";
	adminname = "Test"; adminemail = "admin@irc.test"; registeremail = "noreply@irc.test";
	auth = none; casemapping = rfc1459; maxlogins = 100;
}};
uplink "{name}" {{ host = "127.0.0.1"; port = {link_port}; password = "{link_pass}"; }};
nickserv {{ nick = "NickServ"; user = "NickServ"; host = "{services}"; real = "Nickname Services"; }};
saslserv {{ nick = "SaslServ"; user = "SaslServ"; host = "{services}"; real = "SASL Agent"; }};
general {{ commit_interval = 1; ratelimit_uses = 0; flood_msgs = 0; }};
pbkdf2v2 {{ digest = "SHA256"; rounds = 10000; }};
logfile "{dir}/logs/atheme-all.log" {{ all; }};
"""

_NGIRCD_CONF = """\
[Global]
	Name = {name}
	Info = Test ngIRCd
	Network = TestNet
	Listen = 127.0.0.1
	Ports = {port}
	MotdPhrase = "Test network"
	AdminInfo1 = Test
	AdminInfo2 = Test
	AdminEMail = admin@ngircd.test
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	MaxNickLength = 30
	MaxPenaltyTime = 0
	PingTimeout = 120
	PongTimeout = 20
[Options]
	DNS = no
	Ident = no
	PAM = no
	MorePrivacy = no
	RequireAuthPing = no
	NoticeBeforeRegistration = no
	IncludeDir = {dir}/etc/conf.d
"""


def _services_db(fingerprint: str) -> str:
    lines = ["DBV 12", "CF +AFHORVabefhioqrstv"]
    for i, (account, password) in enumerate(ACCOUNTS.items()):
        uid = f"AAAAAAAA{chr(ord('B') + i)}"
        lines.append(f"MU {uid} {account} {password} {account}@irc.test 1700000000 1700000000 + default")
        lines.append(f"MN {account} {account} 1700000000 1700000000")
        if account == EXTERNAL_ACCOUNT:
            lines.append(f"MCFP {account} {fingerprint}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# servers


@dataclass
class IrcServer:
    """One IRC daemon (and, for inspircd, its Atheme services) on 127.0.0.1."""

    kind: str  # "inspircd" or "ngircd"
    host: str
    port: int  # plain-text client port
    tls_port: int | None  # TLS client port (inspircd only)
    ca_file: Path | None  # the self-signed server certificate to trust
    accounts: dict[str, str]  # services accounts (inspircd only)
    client_cert: Path | None  # PEM certificate registered for SASL EXTERNAL as account "testbot"
    client_key: Path | None  # its private key (PEM)
    workdir: Path
    link_port: int | None = None  # InspIRCd's server port that Atheme links to
    server_name: str = ""
    client_fingerprint: str | None = None  # SHA-256 hex of client_cert, as registered with NickServ
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _atheme_pid: int | None = field(default=None, init=False, repr=False)
    _config_template: str = field(default="", init=False, repr=False)
    _starts: int = field(default=0, init=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    # paths ---------------------------------------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.workdir / "etc" / f"{self.kind}.conf"

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def _atheme_pidfile(self) -> Path:
        return self.workdir / "run" / "atheme.pid"

    # state ---------------------------------------------------------------------------------------

    def is_running(self) -> bool:
        """The ircd process is alive (it may not accept clients yet)."""
        return self._proc is not None and self._proc.poll() is None

    def services_running(self) -> bool:
        """Atheme is alive (reaps it if it died)."""
        return self._atheme_pid is not None and not _reaped(self._atheme_pid)

    # lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the ircd (on the same ports as before) and wait until it is ready.

        Ready means a client can connect and, for inspircd, SASL works (services linked). Atheme is
        started too if it is not running (it keeps running across ircd restarts and relinks).
        """
        with self._lock:
            if not self.is_running():
                self._start_ircd()
            if self.kind == "inspircd" and not self.services_running():
                self._start_services()
        self.wait_ready()

    def stop(self, kill: bool = False) -> None:
        """Stop the ircd only (SIGTERM, or SIGKILL with kill=True); Atheme keeps trying to relink.

        Returns when the process is gone and its ports are closed.
        """
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            _stop_child(proc, kill)
            _WATCHDOG.discard(proc.pid)

    def restart(self, down_seconds: float = 0.0) -> None:
        """stop(), stay down for `down_seconds`, start() (which waits until ready)."""
        self.stop()
        if down_seconds > 0:
            time.sleep(down_seconds)
        self.start()

    def stop_services(self, kill: bool = False) -> None:
        """Stop Atheme (inspircd only): SASL and NickServ vanish until start_services()."""
        with self._lock:
            pid, self._atheme_pid = self._atheme_pid, None
            if pid is None:
                return
            _kill_pid(pid, signal.SIGKILL if kill else signal.SIGTERM)
            _WATCHDOG.discard(pid)
            self._atheme_pidfile.unlink(missing_ok=True)

    def start_services(self) -> None:
        """Start Atheme if needed and wait until SASL works (needs the ircd running)."""
        with self._lock:
            if not self.services_running():
                self._start_services()
        self.wait_ready()

    def shutdown(self) -> None:
        """Stop everything (session teardown)."""
        self.stop()
        if self.kind == "inspircd":
            self.stop_services()

    def wait_ready(self, timeout: float = 15) -> None:
        """Wait until clients can connect; for inspircd also until SASL PLAIN logs in (services
        linked). Raises RuntimeError (with log tails) on timeout or if the ircd died."""
        deadline = time.monotonic() + timeout
        last_error = "not tried"
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise RuntimeError(f"{self.kind} is not running (exit status {code})\n{self._log_tail()}")
            try:
                last_error = self._probe_sasl() if self.kind == "inspircd" else self._probe_register()
                if not last_error:
                    return
            except (OSError, AssertionError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.kind} on {self.host}:{self.port} not ready after {timeout} s: "
                    f"{last_error}\n{self._log_tail()}"
                )
            time.sleep(0.05)

    # internals -----------------------------------------------------------------------------------

    def _open_log(self, name: str) -> IO[bytes]:
        return (self.log_dir / name).open("ab")

    def _start_ircd(self) -> None:
        # A new server id (SID) on every start, so user ids (SID + counter) never repeat: Atheme
        # keeps SASL sessions of clients that vanished before registering, and a new client with
        # the same UID after a restart makes Atheme 7.2 segfault.
        self._starts += 1
        sid = f"{100 + self._starts % 900:03d}"
        self.config_file.write_text(self._config_template.replace("@SID@", sid))
        if self.kind == "inspircd":
            root = ["--runasroot"] if os.geteuid() == 0 else []
            # Debian's InspIRCd 3 segfaults on SIGTERM with ssl_gnutls loaded and raises its own
            # soft core limit: a hard limit of 0 keeps core files away.
            cmd = [
                "/bin/sh", "-c", 'ulimit -Hc 0 && exec "$@"', "sh",
                str(INSPIRCD_BIN), "--config", str(self.config_file), "--nofork", *root,
            ]  # fmt: skip
        else:
            cmd = [str(NGIRCD_BIN), "--nodaemon", "--passive", "--config", str(self.config_file)]
        with self._open_log(f"{self.kind}.stdout") as out:
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _WATCHDOG.add(self._proc.pid)

    def _start_services(self) -> None:
        # Daemonized with -p (in foreground mode, -n, Atheme NOTICEs every user about debug mode).
        pidfile = self._atheme_pidfile
        pidfile.unlink(missing_ok=True)
        cmd = [
            str(ATHEME_BIN), "-c", str(self.workdir / "etc" / "atheme.conf"), "-D",
            str(self.workdir / "data"), "-l", str(self.log_dir / "atheme.log"), "-p", str(pidfile),
        ]  # fmt: skip
        # While the foreground parent exits, be a subreaper: the daemon becomes our child, so that
        # stop_services() can reap it (this machine's init reaps orphans slowly: zombies linger).
        _set_subreaper(True)
        try:
            with self._open_log("atheme.stdout") as out:
                parent = subprocess.Popen(
                    cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
                )
            deadline = time.monotonic() + 10
            pid: int | None = None
            while pid is None:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    pid = int(pidfile.read_text().split()[0])
                if pid is None:
                    if parent.poll() not in (None, 0) or time.monotonic() > deadline:
                        parent.kill()
                        parent.wait()
                        raise RuntimeError(
                            f"atheme did not start (status {parent.returncode})\n{self._log_tail()}"
                        )
                    time.sleep(0.01)
            parent.wait(timeout=10)  # the foreground parent exits once the daemon has forked
        finally:
            _set_subreaper(False)
        self._atheme_pid = pid
        _WATCHDOG.add(pid)

    def _probe_sasl(self) -> str:
        """'' when SASL PLAIN works right now, else why not."""
        account, password = next(iter(self.accounts.items()))
        with IrcListener(self, "", sasl=(account, password), register=False, sasl_required=False,
                         connect_timeout=2.0, sasl_timeout=3.0) as probe:  # fmt: skip
            if probe.sasl_result == "903":
                return ""
            return f"SASL probe: {probe.sasl_error or probe.sasl_result}"

    def _probe_register(self) -> str:
        nick = "probe" + secrets.token_hex(3)
        with IrcListener(self, nick, connect_timeout=2.0):
            return ""

    def _log_tail(self, lines: int = 15) -> str:
        out = []
        for path in sorted(self.log_dir.glob("*")):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").splitlines()[-lines:]
                if text:
                    out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)


def _new_inspircd(workdir: Path) -> IrcServer:
    for sub in ("etc", "logs", "run", "data", "tls"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    server_pem, _server_key, client_pem, client_key, fingerprint = _make_certs(workdir / "tls")
    (workdir / "etc" / "motd.txt").write_text("Test network\n")
    (workdir / "data" / "services.db").write_text(_services_db(fingerprint))
    server = IrcServer(
        kind="inspircd",
        host=HOST,
        port=0,
        tls_port=0,
        ca_file=server_pem,
        accounts=dict(ACCOUNTS),
        client_cert=client_pem,
        client_key=client_key,
        workdir=workdir,
        server_name=INSPIRCD_NAME,
        client_fingerprint=fingerprint,
    )
    _write_inspircd_configs(server)
    return server


def _write_inspircd_configs(server: IrcServer) -> None:
    server.port, tls_port, link_port = free_ports(3, HOST)
    server.tls_port, server.link_port = tls_port, link_port
    values = {
        "dir": str(server.workdir),
        "name": INSPIRCD_NAME,
        "services": SERVICES_NAME,
        "port": server.port,
        "tls_port": tls_port,
        "link_port": link_port,
        # random per run: a stray Atheme from another session can never link to this server
        "link_pass": secrets.token_hex(8),
    }
    server._config_template = _INSPIRCD_CONF.format(**values)
    (server.workdir / "etc" / "atheme.conf").write_text(_ATHEME_CONF.format(**values))


def _new_ngircd(workdir: Path) -> IrcServer:
    for sub in ("etc", "etc/conf.d", "logs"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    server = IrcServer(
        kind="ngircd",
        host=HOST,
        port=0,
        tls_port=None,
        ca_file=None,
        accounts={},
        client_cert=None,
        client_key=None,
        workdir=workdir,
        server_name=NGIRCD_NAME,
    )
    _write_ngircd_config(server)
    return server


def _write_ngircd_config(server: IrcServer) -> None:
    server.port = irc_free_port()
    server._config_template = _NGIRCD_CONF.format(dir=server.workdir, name=NGIRCD_NAME, port=server.port)


def _start_fresh(server: IrcServer, rewrite: Callable[[IrcServer], None]) -> None:
    """First start; if it fails (e.g. another process grabbed a port meanwhile), retry on new ports."""
    for attempt in range(3):
        try:
            server.start()
            return
        except RuntimeError:
            server.shutdown()
            if attempt == 2:
                raise
            rewrite(server)


@pytest.fixture(scope="session")
def inspircd_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    """InspIRCd + Atheme: plain and TLS ports, SASL PLAIN/EXTERNAL, NickServ. Stopped at session end."""
    _require(INSPIRCD_BIN, ATHEME_BIN)
    server = _new_inspircd(tmp_path_factory.mktemp("inspircd"))
    try:
        _start_fresh(server, _write_inspircd_configs)
        yield server
    finally:
        server.shutdown()
        _WATCHDOG.close_if_idle()


@pytest.fixture
def irc_net(inspircd_net: IrcServer) -> IrcServer:
    """inspircd_net, guaranteed running with services linked (restarted if a test stopped it)."""
    inspircd_net.start()
    return inspircd_net


@pytest.fixture(scope="session")
def ngircd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    """ngIRCd, plain text, no services. Stopped at session end."""
    _require(NGIRCD_BIN)
    server = _new_ngircd(tmp_path_factory.mktemp("ngircd"))
    try:
        _start_fresh(server, _write_ngircd_config)
        yield server
    finally:
        server.shutdown()
        _WATCHDOG.close_if_idle()


# --------------------------------------------------------------------------------------------------
# client


class IrcListener:
    """A plain-socket IRC client that records every line it receives, with a monotonic timestamp.

    The constructor connects, registers (answering PING), and joins `channels` (waiting for 366
    each). Options beyond the basics:

    - tls=True: connect to server.tls_port, verifying the server certificate against ca_file.
    - client_cert=True: present server.client_cert (implies tls).
    - sasl=(account, password): SASL PLAIN before registration; sasl_external=True: SASL EXTERNAL
      with the client certificate (implies tls and client_cert).
    - sasl_required=False: a failed SASL does not raise; look at `sasl_result` (the numeric, e.g.
      "903" success, "904" failure, None no answer) and `account`.
    - register=False: stop after the SASL exchange (no NICK/USER, no 001): a fast SASL check.

    Failures to connect, register or join raise AssertionError with the last lines received.
    """

    def __init__(
        self,
        server: IrcServer,
        nick: str,
        *,
        channels: Sequence[str] = (),
        tls: bool = False,
        sasl: tuple[str, str] | None = None,
        sasl_external: bool = False,
        client_cert: bool = False,
        sasl_required: bool = True,
        register: bool = True,
        connect_timeout: float = 15.0,
        sasl_timeout: float = 10.0,
    ) -> None:
        self.server = server
        self.nick = nick
        self.sasl_result: str | None = None
        self.sasl_error: str | None = None
        self.account: str | None = None
        self._lines: list[tuple[float, str]] = []
        self._raw: list[tuple[float, bytes]] = []
        self._cond = threading.Condition()
        self._io_lock = threading.Lock()
        self._eof = False
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

        client_cert = client_cert or sasl_external
        tls = tls or client_cert
        port = server.port
        raw = socket.create_connection((server.host, port if not tls else _need(server.tls_port)), 10)
        try:
            if tls:
                context = ssl.create_default_context(cafile=str(_need(server.ca_file)))
                if client_cert:
                    context.load_cert_chain(str(_need(server.client_cert)), str(_need(server.client_key)))
                self._sock: socket.socket = context.wrap_socket(raw, server_hostname=server.host)
            else:
                self._sock = raw
        except BaseException:
            raw.close()
            raise
        self._sock.setblocking(False)
        self._thread = threading.Thread(target=self._reader, name=f"IrcListener-{nick}", daemon=True)
        self._thread.start()
        try:
            self._handshake(
                nick, channels, sasl, sasl_external, sasl_required, register, connect_timeout, sasl_timeout
            )
        except BaseException:
            self.close()
            raise

    # registration --------------------------------------------------------------------------------

    def _handshake(
        self,
        nick: str,
        channels: Sequence[str],
        sasl: tuple[str, str] | None,
        sasl_external: bool,
        sasl_required: bool,
        register: bool,
        timeout: float,
        sasl_timeout: float,
    ) -> None:
        use_sasl = sasl is not None or sasl_external
        if use_sasl:
            self.send_raw("CAP LS 302")
        if register:
            self.send_raw(f"NICK {nick}")
            self.send_raw(f"USER {nick} 0 * :release-bot test listener")
        if use_sasl:
            self._sasl(sasl, timeout, sasl_timeout)
            if self.sasl_result != "903" and sasl_required:
                raise AssertionError(f"SASL failed: {self.sasl_error or self.sasl_result}\n{self._tail()}")
            if not register:
                return
            self.send_raw("CAP END")
        if not register:
            return
        index = self._wait_msg(
            lambda m: m.command in {"001", "ERROR"} | _REG_ERRORS, timeout, 0, "registration (001)"
        )
        msg = _parse(self._lines[index][1])
        if msg.command != "001":
            raise AssertionError(f"registration as {nick!r} failed: {self._lines[index][1]}\n{self._tail()}")
        self.nick = msg.params[0] if msg.params else nick
        for channel in channels:
            self.join(channel, timeout=timeout)

    def _sasl(self, sasl: tuple[str, str] | None, timeout: float, sasl_timeout: float) -> None:
        caps: set[str] = set()
        start = 0
        while True:  # CAP LS may span several lines: "CAP * LS * :..." then "CAP * LS :..."
            i = self._wait_msg(
                lambda m: m.command == "CAP" and m.params[1:2] == ["LS"], timeout, start, "CAP LS"
            )
            msg = _parse(self._lines[i][1])
            caps.update(c.split("=", 1)[0] for c in msg.params[-1].split())
            start = i + 1
            if len(msg.params) < 4 or msg.params[2] != "*":
                break
        if "sasl" not in caps:
            self.sasl_error = "server does not offer sasl (services not linked?)"
            return
        mechanism = "PLAIN" if sasl is not None else "EXTERNAL"
        self.send_raw("CAP REQ :sasl")
        i = self._wait_msg(lambda m: m.command == "CAP" and m.params[1:2] in (["ACK"], ["NAK"]), timeout,
                           start, "CAP ACK")  # fmt: skip
        if _parse(self._lines[i][1]).params[1] != "ACK":
            self.sasl_error = "CAP REQ :sasl was NAKed"
            return
        self.send_raw(f"AUTHENTICATE {mechanism}")
        deadline = time.monotonic() + sasl_timeout
        i = self._wait_msg(lambda m: m.command == "AUTHENTICATE" or m.command in _SASL_DONE,
                           sasl_timeout, i + 1, "AUTHENTICATE +", required=False)  # fmt: skip
        if i < 0:
            self.sasl_error = f"no answer to AUTHENTICATE {mechanism} within {sasl_timeout} s"
            return
        if _parse(self._lines[i][1]).command == "AUTHENTICATE":
            if sasl is not None:
                account, password = sasl
                payload = base64.b64encode(f"{account}\0{account}\0{password}".encode()).decode()
            else:
                payload = "+"
            self.send_raw(f"AUTHENTICATE {payload}")
            remaining = max(0.1, deadline - time.monotonic())
            i = self._wait_msg(
                lambda m: m.command in _SASL_DONE, remaining, i + 1, "SASL result", required=False
            )
            if i < 0:
                self.sasl_error = f"no SASL result within {sasl_timeout} s"
                return
        msg = _parse(self._lines[i][1])
        self.sasl_result = msg.command
        if msg.command != "903":
            self.sasl_error = f"{msg.command} {msg.params[-1] if msg.params else ''}"
        for _, line in self.lines:
            m = _parse(line)
            if m.command == "900" and len(m.params) >= 3:
                self.account = m.params[2]

    def join(self, channel: str, timeout: float = 15.0) -> None:
        """JOIN a channel and wait for the end of its NAMES list (366)."""
        start = len(self._lines)
        self.send_raw(f"JOIN {channel}")
        key = channel.lower()
        index = self._wait_msg(
            lambda m: (
                (m.command == "366" or m.command in _JOIN_ERRORS)
                and len(m.params) > 1
                and m.params[1].lower() == key
            ),
            timeout,
            start,
            f"JOIN {channel} (366)",
        )
        if _parse(self._lines[index][1]).command != "366":
            raise AssertionError(f"JOIN {channel} failed: {self._lines[index][1]}\n{self._tail()}")

    # reading -------------------------------------------------------------------------------------

    def _reader(self) -> None:
        sock = self._sock
        buffer = b""
        while not self._closing.is_set():
            try:
                pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
                if not pending:
                    readable, _, _ = select.select([sock], [], [], 0.1)
                    if not readable:
                        continue
                with self._io_lock:
                    if self._closing.is_set():
                        break
                    data = sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
                continue
            except (OSError, ValueError):
                data = b""
            if not data:
                break
            buffer += data
            *complete, buffer = buffer.split(b"\n")
            for raw in complete:
                self._received(raw.rstrip(b"\r"))
        if buffer and not self._closing.is_set():
            self._received(buffer.rstrip(b"\r"))
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _received(self, raw: bytes) -> None:
        now = time.monotonic()
        line = raw.decode("utf-8", errors="replace")
        with self._cond:
            self._raw.append((now, raw))
            self._lines.append((now, line))
            self._cond.notify_all()
        if "PING" in line:
            msg = _parse(line)
            if msg.command == "PING":
                with contextlib.suppress(OSError, TimeoutError):
                    self.send_raw("PONG :" + (msg.params[-1] if msg.params else ""))

    @property
    def lines(self) -> list[tuple[float, str]]:
        """A snapshot of every line received so far: (time.monotonic(), decoded line without CRLF)."""
        with self._cond:
            return list(self._lines)

    @property
    def raw_lines(self) -> list[tuple[float, bytes]]:
        """Like `lines`, with the exact bytes received."""
        with self._cond:
            return list(self._raw)

    @property
    def closed_by_server(self) -> bool:
        """The connection has ended (EOF or error) without close() being called."""
        return self._eof and not self._closing.is_set()

    def mark(self) -> int:
        """The number of lines received so far: pass as `since=` to wait only for later lines."""
        with self._cond:
            return len(self._lines)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 10.0, *, since: int = 0) -> str:
        """The first received line (from index `since`, already received or future) that matches.

        Raises AssertionError with the last 20 lines on timeout or when the connection ends first.
        """
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                while index < len(self._lines):
                    line = self._lines[index][1]
                    if predicate(line):
                        return line
                    index += 1
                if self._eof:
                    raise AssertionError(f"connection closed before a matching line arrived\n{self._tail()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching line within {timeout} s\n{self._tail()}")
                self._cond.wait(remaining)

    def _wait_msg(
        self,
        predicate: Callable[[_Message], bool],
        timeout: float,
        since: int,
        what: str,
        required: bool = True,
    ) -> int:
        """Index of the first parsed line from `since` matching; -1 on timeout when not required."""
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                while index < len(self._lines):
                    if predicate(_parse(self._lines[index][1])):
                        return index
                    index += 1
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    if not required and not self._eof:
                        return -1
                    why = "connection closed" if self._eof else f"timeout after {timeout} s"
                    raise AssertionError(
                        f"{self.nick or 'listener'}: waiting for {what}: {why}\n{self._tail()}"
                    )
                self._cond.wait(remaining)

    def _tail(self, count: int = 20) -> str:
        with self._cond:
            last = self._lines[-count:]
        return "last lines received:\n" + "\n".join(f"  {line}" for _, line in last)

    def privmsgs(self, target: str | None = None) -> list[tuple[float, str, str, str]]:
        """(time, sender nick, target, text) of every PRIVMSG and NOTICE received, optionally only
        those sent to `target` (compared case-insensitively)."""
        out = []
        for when, line in self.lines:
            msg = _parse(line)
            if msg.command not in ("PRIVMSG", "NOTICE") or len(msg.params) < 2:
                continue
            if target is not None and msg.params[0].lower() != target.lower():
                continue
            out.append((when, msg.nick, msg.params[0], msg.params[-1]))
        return out

    # writing -------------------------------------------------------------------------------------

    def send_raw(self, line: str | bytes) -> None:
        """Send one line plus CRLF; str is encoded as UTF-8, bytes are sent as they are."""
        data = (line.encode() if isinstance(line, str) else line) + b"\r\n"
        view = memoryview(data)
        deadline = time.monotonic() + 10
        with self._io_lock:
            while view:
                try:
                    sent = self._sock.send(view)
                    view = view[sent:]
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError, InterruptedError):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"could not send to {self.server.kind} within 10 s") from None
                    select.select([self._sock], [self._sock], [], 0.05)

    def privmsg(self, target: str, text: str) -> None:
        self.send_raw(f"PRIVMSG {target} :{text}")

    # closing -------------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closing.is_set():
            return
        if not self._eof:
            with contextlib.suppress(OSError, TimeoutError, ValueError):
                self.send_raw("QUIT :listener closed")
        self._closing.set()
        with self._io_lock, contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _need(value: _T | None) -> _T:
    if value is None:
        raise AssertionError("this server does not offer that (TLS / client certificate)")
    return value


def try_sasl(
    server: IrcServer,
    account: str | None = None,
    password: str | None = None,
    *,
    external: bool = False,
    tls: bool = False,
    timeout: float = 10.0,
) -> tuple[str | None, str | None]:
    """One SASL attempt without registering (fast): PLAIN with account/password, or EXTERNAL with
    the testbed's client certificate over TLS. Returns (numeric, account): ("903", "testbot") on
    success, ("904", None) for bad credentials, (None, None) when there was no answer."""
    plain = None if external else (_need(account), _need(password))
    with IrcListener(server, "", tls=tls, sasl=plain, sasl_external=external, sasl_required=False,
                     register=False, sasl_timeout=timeout) as probe:  # fmt: skip
        return probe.sasl_result, probe.account


def open_listeners(server: IrcServer, nicks: Sequence[str], **kwargs: Any) -> list[IrcListener]:
    """Several IrcListeners registered in parallel (InspIRCd completes registrations once a
    second, so this saves about a second per extra listener). kwargs go to IrcListener. Close
    them yourself (e.g. with contextlib.ExitStack); if one fails, the others are closed."""
    with ThreadPoolExecutor(max_workers=max(1, len(nicks))) as pool:
        futures = [pool.submit(IrcListener, server, nick, **kwargs) for nick in nicks]
        results: list[IrcListener] = []
        errors: list[BaseException] = []
        for future in futures:
            try:
                results.append(future.result())
            except BaseException as exc:
                errors.append(exc)
    if errors:
        for listener in results:
            listener.close()
        raise errors[0]
    return results

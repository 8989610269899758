"""Mbox sink: each announcement appended as an RFC 5322 mail to an mbox file (mboxo: body lines that
start with "From " are quoted as ">From ").

Locking: an fcntl (POSIX record) lock on the mbox itself, the lock mail readers such as mutt and
Python's `mailbox` take too. The kernel drops it when the process dies, so it can never be stale; a
leftover `.lock` dot-file (from an older release-bot, which used Python's `mailbox` dot-locking) is
ignored. A lock held by another process for longer than `LOCK_WAIT` seconds is a transient delivery
error, retried later.

Idempotent per Message-ID: the file is scanned once for Message-IDs; afterwards only what other
writers appended (the file grew past what we wrote) is scanned, so an append costs O(1). A message
whose Message-ID is already in the file (delivered before a crash could mark it) is not written twice,
except when it is the last message and differs from what would be written now: that is a write torn by
a crash, which is cut off and written again (rendering is deterministic: same payload, same bytes).

Bodies go through the sanitiser (no control or bidi characters, no IRC formatting codes).
"""

from __future__ import annotations

import asyncio
import email.errors
import errno
import fcntl
import os
import re
import time
from datetime import UTC
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from io import BytesIO
from pathlib import Path

from bot.config import MboxOutput
from bot.errors import DeliveryError
from bot.model import AnyEvent
from bot.presentation.mailcontext import mail_context
from bot.render import Renderer
from bot.sinks.base import Sink
from bot.store import OutboxItem
from bot.text import sanitize, sanitize_body

#: Seconds to wait for another process's lock on the mbox before giving up (retried later).
LOCK_WAIT = 10.0
#: Mode of a newly created mbox (before the umask).
MODE = 0o640
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*)$", re.IGNORECASE)


class MboxScan:
    """What is known of an mbox file: the Message-IDs in it, where its last message starts, and its
    size when last scanned or written."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.size = 0
        self.inode: tuple[int, int] | None = None
        self.last_start: int | None = None
        self.last_id: str | None = None
        self._pos = 0
        self._in_headers = False
        self._header: bytes | None = None

    def scan(self, fd: int, start: int, end: int) -> None:
        """Read the bytes [start, end) of the mbox (`start` is 0 or the start of a message)."""
        os.lseek(fd, start, os.SEEK_SET)
        remaining = end - start
        self._pos, self._in_headers, self._header = start, False, None
        pending = b""
        while remaining > 0:
            block = os.read(fd, min(remaining, 1 << 20))
            if not block:
                break
            remaining -= len(block)
            lines = (pending + block).split(b"\n")
            pending = lines.pop()
            for line in lines:
                self._line(line)
        if pending:
            self._line(pending)  # an unterminated last line (a torn write) may still start a message
        self._finish_header()
        self.size = end

    def _finish_header(self) -> None:
        if self._header is not None:
            self._add(self._header)
            self._header = None

    def _line(self, line: bytes) -> None:
        if line.startswith(b"From "):
            self._in_headers, self._header = True, None
            self.last_start, self.last_id = self._pos, None
        elif self._in_headers:
            if self._header is not None and line[:1] in (b" ", b"\t"):
                self._header += b" " + line.strip()
            else:
                if self._header is not None:
                    self._add(self._header)
                    self._header = None
                if not line.strip():
                    self._in_headers = False
                elif _MESSAGE_ID.match(line):
                    self._header = line
        self._pos += len(line) + 1

    def _add(self, header: bytes) -> None:
        match = _MESSAGE_ID.match(header)
        value = match.group(1).decode("utf-8", "replace").strip() if match else ""
        if value:
            self.ids.add(value)
            self.last_id = value


def _lock(fd: int, path: Path, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{path} is locked by another process (waited {wait:g}s)") from None
            time.sleep(0.05)


def mbox_bytes(message: EmailMessage, *, from_line: str) -> bytes:
    """One mbox entry: the "From " line, the message with ">From " quoting, a blank line after."""
    buffer = BytesIO()
    # maxheaderlen=0: headers are not folded (as Python's mailbox writes them; readers that do not unfold
    # would see a broken Subject)
    generator = BytesGenerator(
        buffer, mangle_from_=True, maxheaderlen=0, policy=policy.default.clone(linesep="\n")
    )
    generator.flatten(message)
    body = buffer.getvalue()
    if not body.endswith(b"\n"):
        body += b"\n"
    return f"From {from_line}\n".encode() + body + b"\n"


class MboxSink(Sink):
    kind = "mbox"
    idempotent = True  # a Message-ID already in the file is not appended again

    def __init__(self, config: MboxOutput) -> None:
        super().__init__(config)
        self.mbox = config
        self.path = config.path
        self.lock_wait = LOCK_WAIT
        self._scan: MboxScan | None = None

    def render(self, event: AnyEvent, renderer: Renderer) -> dict[str, object]:
        context = mail_context(event)
        return {
            "subject": sanitize(renderer.render(f"mail/{event.kind}.subject.j2", **context)),
            "body": sanitize_body(renderer.render(f"mail/{event.kind}.txt.j2", **context)),
            "date": format_datetime(event.published) if event.published else None,
        }

    def build(self, item: OutboxItem) -> bytes:
        """The bytes appended for `item`; the same on every attempt."""
        message = EmailMessage()
        message["From"] = self.mbox.sender
        message["To"] = self.mbox.to
        message["Subject"] = sanitize(str(item.payload["subject"]))
        message["Date"] = str(item.payload.get("date") or format_datetime(item.created_at))
        message["Message-ID"] = item.message_id or make_msgid()
        message.set_content(sanitize_body(str(item.payload["body"])))
        created = item.created_at.astimezone(UTC)
        return mbox_bytes(message, from_line=f"MAILER-DAEMON {created:%a %b %d %H:%M:%S %Y}")

    def _update_scan(self, fd: int) -> MboxScan:
        info = os.fstat(fd)
        scan = self._scan
        inode = (info.st_dev, info.st_ino)
        if scan is None or scan.inode != inode or info.st_size < scan.size:
            scan = MboxScan()  # first use, or the file was replaced or truncated: read it all
            scan.scan(fd, 0, info.st_size)
        elif info.st_size > scan.size:
            scan.scan(fd, scan.size, info.st_size)  # someone else appended: read only that
        scan.inode = inode
        self._scan = scan
        return scan

    def _write(self, item: OutboxItem) -> None:
        data = self.build(item)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, MODE)
        try:
            _lock(fd, self.path, self.lock_wait)
            scan = self._update_scan(fd)
            if scan.size and scan.last_start is not None and os.pread(fd, 1, scan.size - 1) != b"\n":
                # every writer ends a message with a newline: this tail is a write torn by a crash
                os.ftruncate(fd, scan.last_start)
                scan.ids.discard(scan.last_id or "")
                scan.size, scan.last_id = scan.last_start, None
            mid = item.message_id
            if mid and mid in scan.ids:
                if mid != scan.last_id or scan.last_start is None:
                    return  # delivered before; the crash came before it was marked
                if os.pread(fd, scan.size - scan.last_start + 1, scan.last_start) == data:
                    return
                # the last message is a torn write of this one: cut it off and write it again
                os.ftruncate(fd, scan.last_start)
                scan.size = scan.last_start
            start = scan.size
            if start > 0:
                tail = os.pread(fd, 2, start - 2) if start >= 2 else os.pread(fd, 1, 0)
                gap = b"" if tail.endswith(b"\n\n") else (b"\n" if tail.endswith(b"\n") else b"\n\n")
                if gap:
                    os.write(fd, gap)
                    start += len(gap)
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
            scan.size = start + len(data)
            scan.last_start, scan.last_id = start, mid
            if mid:
                scan.ids.add(mid)
        finally:
            os.close(fd)  # also releases the lock

    async def deliver(self, item: OutboxItem) -> None:
        try:
            await asyncio.to_thread(self._write, item)
        except (OSError, ValueError, email.errors.MessageError) as exc:
            # TimeoutError (lock held elsewhere) is an OSError too: all of these are retried later
            self._scan = None  # read the file again next time
            raise DeliveryError(f"cannot write {self.path}: {exc}", sink=self.name) from exc

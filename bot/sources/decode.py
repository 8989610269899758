"""Content decoding with the byte cap on the *decoded* body, enforced as it streams.

Exactly one content coding is accepted (identity, gzip or deflate): a chain such as
`Content-Encoding: gzip, gzip` multiplies the compression ratio (2.6 KB on the wire became 2 GB in
memory) and no server we fetch from needs it. Each decompression step is bounded with `max_length`,
so memory stays within the cap whatever the ratio of one chunk.
"""

from __future__ import annotations

import zlib

__all__ = ["BodyTooLarge", "BoundedDecoder", "DecodeFailure", "content_coding"]

_STEP = 64 * 1024  # decompressed bytes produced per step


class BodyTooLarge(Exception):
    """The decoded body exceeds the cap."""


class DecodeFailure(Exception):
    """The body cannot be decoded (unsupported or stacked coding, corrupt data)."""


def content_coding(header: str | None) -> str:
    """The one content coding of a `Content-Encoding` header: 'identity', 'gzip' or 'deflate'.

    Raises DecodeFailure for more than one coding or an unsupported one."""
    codings = [c.strip().lower() for c in (header or "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if len(codings) > 1:
        raise DecodeFailure(
            f"refusing a body with more than one content coding (Content-Encoding: {', '.join(codings)})"
        )
    if not codings:
        return "identity"
    coding = {"x-gzip": "gzip"}.get(codings[0], codings[0])
    if coding not in ("gzip", "deflate"):
        raise DecodeFailure(f"unsupported Content-Encoding {codings[0]!r} (only gzip and deflate)")
    return coding


class BoundedDecoder:
    """Feed raw body chunks in, get decoded bytes out; raises BodyTooLarge once more than `cap` decoded
    bytes have come out, and DecodeFailure on corrupt data."""

    def __init__(self, coding: str, cap: int) -> None:
        self.coding = coding
        self.cap = cap
        self.total = 0
        self._z: zlib._Decompress | None = None
        self._raw_deflate = False
        if coding == "gzip":
            self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif coding == "deflate":
            self._z = zlib.decompressobj()
        self._started = False

    def _count(self, data: bytes) -> bytes:
        self.total += len(data)
        if self.total > self.cap:
            raise BodyTooLarge(f"decoded response body exceeds the max_bytes cap of {self.cap} bytes")
        return data

    def feed(self, raw: bytes) -> list[bytes]:
        if not raw:
            return []
        if self._z is None:
            return [self._count(raw)]
        out: list[bytes] = []
        data = raw
        while True:
            try:
                piece = self._z.decompress(data, _STEP)
            except zlib.error as exc:
                if self.coding == "deflate" and not self._started and not self._raw_deflate:
                    # "deflate" is meant to be zlib-wrapped; some servers send raw deflate
                    self._raw_deflate = True
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise DecodeFailure(f"corrupt {self.coding} data: {exc}") from None
            self._started = True
            if piece:
                out.append(self._count(piece))
            if self._z.eof:
                rest = self._z.unused_data
                if self.coding == "gzip" and rest.strip(b"\0"):
                    # a multi-member gzip stream: the next member, still within the same cap
                    self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    data = rest
                    continue
                break
            data = self._z.unconsumed_tail
            if not data and len(piece) < _STEP:
                break  # all input consumed and no output left pending
        return out

    def flush(self) -> list[bytes]:
        if self._z is None:
            return []
        if not self._z.eof and self._started:
            raise DecodeFailure(f"truncated {self.coding} data")
        return []

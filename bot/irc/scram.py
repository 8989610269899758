"""SASL SCRAM-SHA-256 (RFC 5802, RFC 7677), pure: the client's two messages and the check of the
server's signature, with hashlib/hmac. The password never crosses the wire, and a server that does
not know it cannot pass the final check (mutual authentication).

Names are escaped as RFC 5802 says (`=` → `=3D`, `,` → `=2C`); the password is normalised with NFKC,
the core of SASLprep (RFC 4013), which is what servers and other clients do in practice. No channel
binding (`n,,`): TLS channel binding is not offered by the IRC SASL servers we know.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from dataclasses import dataclass, field


class ScramError(ValueError):
    """The server's SCRAM message is malformed, or its signature is wrong."""


def _escape(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _fields(message: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in message.split(","):
        key, sep, value = part.partition("=")
        if not sep or len(key) != 1:
            raise ScramError(f"malformed SCRAM attribute {part[:40]!r}")
        out.setdefault(key, value)
    return out


def new_nonce() -> str:
    """A client nonce: 24 random bytes, base64 (printable, no comma)."""
    return base64.b64encode(os.urandom(24)).decode("ascii")


@dataclass
class ScramClient:
    username: str
    password: str
    nonce: str = field(default_factory=new_nonce)
    digest: str = "sha256"
    #: the largest iteration count we compute (a hostile server could ask for billions)
    max_iterations: int = 1_000_000
    _first_bare: str = ""
    _server_signature: bytes = b""

    def first(self) -> str:
        """client-first-message."""
        self._first_bare = f"n={_escape(self.username)},r={self.nonce}"
        return "n,," + self._first_bare

    def final(self, server_first: str) -> str:
        """client-final-message for the server-first-message."""
        attrs = _fields(server_first)
        if "e" in attrs:
            raise ScramError(f"the server refused: {attrs['e'][:80]}")
        nonce, salt_b64, iterations_text = attrs.get("r", ""), attrs.get("s", ""), attrs.get("i", "")
        if not nonce.startswith(self.nonce) or len(nonce) <= len(self.nonce):
            raise ScramError("the server's nonce does not extend ours")
        try:
            salt = base64.b64decode(salt_b64, validate=True)
            iterations = int(iterations_text)
        except ValueError as exc:
            raise ScramError(f"malformed salt or iteration count: {exc}") from exc
        if not salt or not 1 <= iterations <= self.max_iterations:
            raise ScramError(f"unacceptable salt or iteration count ({iterations_text[:12]})")
        password = unicodedata.normalize("NFKC", self.password).encode("utf-8")
        salted = hashlib.pbkdf2_hmac(self.digest, password, salt, iterations)
        client_key = hmac.digest(salted, b"Client Key", self.digest)
        stored_key = hashlib.new(self.digest, client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self._first_bare},{server_first},{without_proof}".encode()
        client_signature = hmac.digest(stored_key, auth_message, self.digest)
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", self.digest)
        self._server_signature = hmac.digest(server_key, auth_message, self.digest)
        return f"{without_proof},p={base64.b64encode(proof).decode('ascii')}"

    def verify(self, server_final: str) -> None:
        """Check the server-final-message; raises ScramError unless the server knows the password."""
        attrs = _fields(server_final)
        if "e" in attrs:
            raise ScramError(f"the server refused: {attrs['e'][:80]}")
        try:
            signature = base64.b64decode(attrs.get("v", ""), validate=True)
        except ValueError as exc:
            raise ScramError("malformed server signature") from exc
        if not self._server_signature or not hmac.compare_digest(signature, self._server_signature):
            raise ScramError("the server's signature is wrong (it does not know the password)")

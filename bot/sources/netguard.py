"""Which addresses a fetch may connect to: the SSRF guard of the HTTP client.

A fetch may connect to public addresses, and to a non-public *class* of address (loopback, link-local,
private, unspecified) only when the configured URL itself points to that class. The check runs on the
resolved address at connect time, inside the connection pool's network backend, so a redirect to a
name that resolves to 169.254.169.254, or a DNS answer that changes between fetches, is refused
before any packet is sent to it. Each policy (set of allowed classes) has its own connection pool,
so a connection opened for one source is never reused by a fetch that may not reach that address.

Name resolution is injectable (`Resolver`), so tests use a fake resolver and never touch the network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpcore
import httpx

__all__ = [
    "AddressRefused",
    "GuardedBackend",
    "Resolver",
    "address_class",
    "guarded_transport",
    "resolve",
    "system_resolver",
]

#: host, port → the IP addresses (as text) it resolves to. Raises socket.gaierror (an OSError) on failure.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

PUBLIC = "public"


class AddressRefused(Exception):
    """A connection to a non-public address that the policy does not allow."""


def address_class(address: str) -> str:
    """'public', 'loopback', 'link-local', 'private' or 'unspecified' for an IP address in text form.

    'private' covers every other non-global range too (RFC 1918, CGNAT, ULA, multicast, reserved,
    documentation). An IPv4-mapped IPv6 address is classed as its IPv4 address.
    """
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_global and not ip.is_multicast:
        return PUBLIC
    return "private"


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The operating system's resolver (getaddrinfo), in the order it answers."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in seen:
            seen.append(str(sockaddr[0]))
    return seen


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


async def resolve(host: str, port: int, resolver: Resolver) -> list[str]:
    """The addresses of `host`: an IP literal is itself, a name goes through `resolver`."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    addresses = list(await resolver(host, port))
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that resolves the host itself, refuses addresses whose class is not allowed,
    and connects (through `inner`) to the checked address only; TLS still verifies the host name."""

    def __init__(
        self,
        *,
        allowed: frozenset[str],
        resolver: Resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allowed = allowed | {PUBLIC}
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port, self.resolver)
        except OSError as exc:
            raise httpcore.ConnectError(f"DNS lookup of {host!r} failed: {exc}") from exc
        allowed = [a for a in addresses if address_class(a) in self.allowed]
        if not allowed:
            refused = addresses[0]
            raise AddressRefused(
                f"refused to connect to {host} ({refused}): a {address_class(refused)} address, and the "
                "configured URL does not point to that class of address"
            )
        error: Exception | None = None
        for address in allowed:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("unix sockets are not used")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_transport(backend: GuardedBackend) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connection pool opens connections through `backend` only.

    httpx has no public hook for the network backend, so the pool it builds is replaced by one with the
    same TLS defaults (httpx is pinned below 1.0; tests/test_http.py covers this path).
    """
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=True),
        network_backend=backend,
    )
    return transport


def classes_of(addresses: Iterable[str]) -> frozenset[str]:
    """The non-public classes among `addresses` (what a configured URL allows)."""
    return frozenset(c for c in (address_class(a) for a in addresses) if c != PUBLIC)

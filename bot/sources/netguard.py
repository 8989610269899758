"""Which addresses a fetch may connect to: the SSRF guard of the HTTP client.

A fetch may connect to public addresses, and to a non-public *class* of address (loopback, link-local,
private, unspecified) only when the configured URL itself points to that class. The check runs on the
resolved address at connect time, inside the connection pool (`bot.sources.wire`), so a redirect to a
name that resolves to 169.254.169.254, or a DNS answer that changes between fetches, is refused
before any packet is sent to it. Each policy (set of allowed classes) has its own connection pool,
so a connection opened for one source is never reused by a fetch that may not reach that address.

Name resolution is injectable (`Resolver`), so tests use a fake resolver and never touch the network.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence

__all__ = [
    "AddressRefused",
    "Resolver",
    "address_class",
    "classes_of",
    "resolve",
    "system_resolver",
]

#: host, port → the IP addresses (as text) it resolves to. Raises socket.gaierror (an OSError) on failure.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

PUBLIC = "public"


class AddressRefused(Exception):
    """A connection to a non-public address that the policy does not allow."""


@functools.lru_cache(maxsize=1024)
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


@functools.lru_cache(maxsize=1024)
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


def classes_of(addresses: Iterable[str]) -> frozenset[str]:
    """The non-public classes among `addresses` (what a configured URL allows)."""
    return frozenset(c for c in (address_class(a) for a in addresses) if c != PUBLIC)

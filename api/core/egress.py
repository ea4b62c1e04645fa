"""Where the API may send requests of its own (LLM providers, alert webhooks): to public addresses only,
unless `AIADMIN_ALLOWED_PRIVATE_NETWORKS` names the network (a local Ollama on 127.0.0.1, vLLM on 10.0.0.7).

An address typed by an admin could otherwise reach what only the server can reach: the cloud metadata
service (169.254.169.254, fd00:ec2::254) and its credentials, the loopback interface, the private network.
Refused are loopback, link-local, private, shared (100.64/10), reserved, unspecified and multicast
addresses, IPv4 ones also when written as IPv6 (`::ffff:a.b.c.d`, NAT64, 6to4). Checked twice:

- when the URL is saved (`check_url`): its IP, or every address its host name resolves to now; refused with
  400 `address_not_allowed`. A name that does not resolve now passes (the next check holds);
- at every connection (`Egress.connector`): the address actually connected to, after DNS, before a byte is
  sent, so a name that later resolves elsewhere (DNS rebinding), an IP written in another form and a
  redirect are refused too. aiohttp reuses its connections, so this costs nothing per call, only per new
  connection (one `ipaddress` lookup).

See docs/decisions/0035-outbound-addresses-and-inert-exports.md.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from api.core.errors import AppError
from api.core.settings import Settings

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

RESOLVE_SECONDS = 3.0  # how long a save waits for DNS before it lets the connection-time check decide
_NAT64 = IPv6Network("64:ff9b::/96")


class AddressNotAllowed(AppError):
    status_code = 400
    code = "address_not_allowed"


class AddressRefused(PermissionError):
    """Raised (an OSError, as aiohttp expects of a connection) instead of connecting to a refused address."""

    def __init__(self, why: str) -> None:
        super().__init__(errno.EACCES, why)


_HINT = "AIADMIN_ALLOWED_PRIVATE_NETWORKS can allow it"


def was_refused(error: BaseException | None) -> bool:
    """Whether a connection failed on this policy (also when every address of a name was refused, which
    the connection library reports as one combined OSError)."""
    return isinstance(error, AddressRefused) or (isinstance(error, OSError) and _HINT in str(error))


def _address(host: str) -> Address:
    return ip_address(host.split("%", 1)[0])  # an IPv6 link-local address may carry its zone: fe80::1%eth0


def _embedded(address: Address) -> Address:
    """The IPv4 address that an IPv6 one stands for (mapped, NAT64, 6to4), else itself."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def _kind(address: Address) -> str | None:
    """What makes the address one the server must not call on its own; None for a public one."""
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (cloud metadata)"
    if address.is_multicast:
        return "multicast"
    if not address.is_global:
        return "private or reserved"
    return None


@lru_cache(maxsize=4096)  # ipaddress' checks cost some 25 µs; a server calls few distinct addresses
def _refusal(allowed: tuple[Network, ...], host: str) -> str | None:
    address = _address(host)
    if any(address in network or _embedded(address) in network for network in allowed):
        return None
    kind = _kind(_embedded(address))
    if kind is None:
        return None
    return f"{host} is a {kind} address ({_HINT})"


@dataclass(frozen=True, slots=True)
class Egress:
    """The addresses outbound calls may reach: every public one, and the networks allowed by the settings."""

    allowed: tuple[Network, ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> Egress:
        return cls(tuple(settings.allowed_private_networks))

    def refusal(self, host: str) -> str | None:
        """Why a connection to this IP must not be made; None if it may."""
        return _refusal(self.allowed, host)

    def socket(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """aiohttp's socket factory: each connection's socket, made only for an allowed address."""
        family, type_, proto, _, sockaddr = addr_info
        if why := self.refusal(sockaddr[0]):
            raise AddressRefused(why)
        return socket.socket(family=family, type=type_, proto=proto)

    def connector(self, **options: Any) -> aiohttp.TCPConnector:
        """A connector that connects to allowed addresses only (options: TCPConnector's)."""
        return aiohttp.TCPConnector(socket_factory=self.socket, **options)

    async def check_url(self, url: str, *, field: str) -> None:
        """Refuse (400 `address_not_allowed`) a URL whose host is, or now resolves to, a refused address."""
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:  # a port that is not a number or out of range, a broken IPv6 literal
            host = None
        if not host:
            raise AddressNotAllowed(f"{field}: not a URL with a host and a valid port")
        for address in await _addresses(host, port):
            if why := self.refusal(address):
                raise AddressNotAllowed(f"{field}: {why}")


async def _addresses(host: str, port: int) -> Iterable[str]:
    """The host's IP, or the addresses its name resolves to now (none when it does not resolve in time)."""
    try:
        _address(host)
        return [host]
    except ValueError:
        pass
    try:
        found = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_SECONDS
        )
    except (
        OSError,
        TimeoutError,
        ValueError,
    ):  # unknown, DNS down, or no name at all ("a\x00b", a label too long)
        return []
    return {info[4][0] for info in found}

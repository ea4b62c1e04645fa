"""A browser's address and User-Agent, forwarded to the API by our own web apps, signed for one request.

The panel and the portal call the API from their servers: the API's socket sees their address and HTTP
client, not the person's. Each therefore sends the browser's address and User-Agent in headers of its own
(`Names`: `X-Staff-*` from the panel, `X-Portal-*` from the portal), with the time (Unix seconds) and an
HMAC-SHA256, under a key only it and the API hold, of the three and of the request they came with: its
method, its target (path and query, as sent) and a hash of its Authorization header. The API believes them
only when the signature verifies for this very request and the time is within `MAX_SKEW_SECONDS` of its own,
so a captured set is worth nothing on any other method, path, query or token.

This one module holds the message, the signing and the check for both forwarders and the API (stdlib only:
every part may import it and it imports none; .importlinter `signed-origin-alone`). The glue stays with
each part: the panel's Streamlit browser (dashboard/forwarding.py), the portal's middleware
(portal/forwarding.py), the API's reading of a Starlette request (api/core/forwarded.py).
See docs/decisions/0040, 0046 and 0051.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# How far a forwarder's clock and the API's may disagree, and how long a captured set of headers can be
# replayed: only with the very request it was signed for (same method, target and token).
MAX_SKEW_SECONDS = 60
USER_AGENT_MAX = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")


@dataclass(frozen=True, slots=True)
class Names:
    """The four headers one forwarder sends (HTTP header names; compared case-insensitively)."""

    ip: str
    user_agent: str
    timestamp: str
    signature: str


STAFF = Names("X-Staff-IP", "X-Staff-User-Agent", "X-Staff-Timestamp", "X-Staff-Signature")
PORTAL = Names("X-Portal-IP", "X-Portal-User-Agent", "X-Portal-Timestamp", "X-Portal-Signature")


@dataclass(frozen=True, slots=True)
class Bound:
    """The request a signature is bound to: its method, its target as sent (`/path?query`, percent-encoded
    as on the wire) and its Authorization header ("" without one)."""

    method: str
    target: str
    authorization: str = ""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the person is: their browser's address and User-Agent."""

    ip: str
    user_agent: str | None


def signature(key: str, ip: str, user_agent: str, timestamp: str, request: Bound) -> str:
    """HMAC-SHA256 (hex) under `key` of `timestamp|ip|user_agent|METHOD|target|sha256(authorization)`."""
    token = hashlib.sha256(request.authorization.encode()).hexdigest()
    message = f"{timestamp}|{ip}|{user_agent}|{request.method.upper()}|{request.target}|{token}"
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def header_text(user_agent: str) -> str:
    """A User-Agent as a forwarder sends it: HTTP headers are ASCII, so anything else (and a control
    character) becomes "?" before it is signed; at most USER_AGENT_MAX long."""
    return _NOT_PRINTABLE_ASCII.sub("?", user_agent)[:USER_AGENT_MAX]


def sign(names: Names, key: str, origin: Origin, request: Bound, now: float | None = None) -> dict[str, str]:
    """The headers that forward `origin` with `request` (and are good for it alone)."""
    agent = origin.user_agent or ""
    stamp = str(int(time.time() if now is None else now))
    return {
        names.ip: origin.ip,
        names.user_agent: agent,
        names.timestamp: stamp,
        names.signature: signature(key, origin.ip, agent, stamp, request),
    }


def user_agent_text(value: str | None) -> str | None:
    """A User-Agent as stored: control characters dropped, at most USER_AGENT_MAX long, None if empty."""
    return _CONTROL.sub("", value or "")[:USER_AGENT_MAX] or None


def verified(names: Names, headers: Mapping[str, str], key: str, now: float, request: Bound) -> Origin | None:
    """The origin signed in `headers` (a case-insensitive mapping) for `request`, or None: headers missing,
    no key, the signature wrong (or made for another request), the time outside the window, or the address
    not an IP address."""
    ip, agent = headers.get(names.ip), headers.get(names.user_agent)
    stamp, signed = headers.get(names.timestamp), headers.get(names.signature)
    if not key or ip is None or agent is None or not stamp or not signed:
        return None
    expected = signature(key, ip, agent, stamp, request)
    if not hmac.compare_digest(expected.encode(), signed.strip().lower().encode()):
        return None
    try:
        if abs(now - int(stamp)) > MAX_SKEW_SECONDS:
            return None
        address = str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        return None
    return Origin(address, user_agent_text(agent))


def shared_key(configured: str | None, path: Path) -> str | None:
    """A forwarder's key: the one configured (the same variable the API reads), else the file the API made
    in its data directory (a forwarder on the same disk); None with neither: nothing is forwarded."""
    if configured is not None:
        return configured or None
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def forwarded_client(peer: str | None, forwarded_for: list[str], trusted_proxies: int) -> str | None:
    """The address of whoever reached the first of `trusted_proxies` proxies in front of a server (the API's
    AIADMIN_TRUSTED_PROXIES, the portal's AIADMIN_PORTAL_TRUSTED_PROXIES).

    Each proxy appends the address it was reached from to `X-Forwarded-For`, and the last one is the TCP
    peer: the client is the entry `trusted_proxies` places from the right. Whatever stands left of it
    was written by the client and is never read. With no trusted proxy the header is ignored; an entry
    that is not an IP address, or a header with fewer entries than proxies (the request did not come
    through all of them), gives the peer.
    """
    if trusted_proxies == 0:
        return peer
    entries = [entry.strip() for value in forwarded_for for entry in value.split(",")]
    if len(entries) < trusted_proxies:
        return peer
    return _ip_address(entries[-trusted_proxies]) or peer


def _ip_address(entry: str) -> str | None:
    """`entry` as a normalised IP address (a port, `1.2.3.4:5678` or `[::1]:5678`, dropped), else None."""
    if entry.startswith("[") and "]" in entry:
        entry = entry[1 : entry.index("]")]
    elif entry.count(":") == 1:
        entry = entry.split(":")[0]
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return None

"""The staff member's own address and browser, forwarded by the panel and believed only from the panel.

The panel calls the API from its server: the API's socket sees the panel's address and its HTTP client, not
the staff member. The panel therefore sends the browser's address and User-Agent in `X-Staff-IP` and
`X-Staff-User-Agent`, with the time (`X-Staff-Timestamp`, Unix seconds) and an HMAC-SHA256 under the panel
key (`X-Staff-Signature`) of the three and of the request they came with: its method, its target (path and
query, as sent) and a hash of its Authorization header. The key is one only the panel and the API hold
(AIADMIN_PANEL_KEY, or made once into `$AIADMIN_DATA_DIR/panel_key`). The API believes the headers only when
the signature verifies for this very request and the time is within `MAX_SKEW_SECONDS` of its own; otherwise
it ignores all four and the client is the socket's peer (through AIADMIN_TRUSTED_PROXIES), as for any
caller. A captured set is thus worth nothing on any other method, path, query or token.
See docs/decisions/0040-panel-forwards-the-staff-members-address.md and 0046.

dashboard/forwarding.py signs with the same message; tests/api/core/test_forwarded.py holds the two to it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import time
from dataclasses import dataclass

from starlette.requests import Request

IP, USER_AGENT, TIMESTAMP, SIGNATURE = (
    "x-staff-ip", "x-staff-user-agent", "x-staff-timestamp", "x-staff-signature",
)  # fmt: skip
# How far the panel's clock and the API's may disagree, and how long a captured set of headers can be
# replayed: only with the very request it was signed for (same method, target and token).
MAX_SKEW_SECONDS = 60
USER_AGENT_MAX = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Bound:
    """The request a signature is bound to: its method, its target as sent (`/path?query`, percent-encoded
    as on the wire) and its Authorization header ("" without one)."""

    method: str
    target: str
    authorization: str = ""


def signature(key: str, ip: str, user_agent: str, timestamp: str, request: Bound) -> str:
    """HMAC-SHA256 (hex) under the panel key of
    `timestamp|ip|user_agent|METHOD|target|sha256(authorization)`."""
    token = hashlib.sha256(request.authorization.encode()).hexdigest()
    message = f"{timestamp}|{ip}|{user_agent}|{request.method.upper()}|{request.target}|{token}"
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def bound(request: Request) -> Bound:
    """What the request the API received is: the target as it came on the wire (the ASGI server's
    `raw_path` and `query_string`), so the panel and the API sign the same bytes."""
    scope = request.scope
    path = (scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    target = f"{path}?{query}" if query else path
    return Bound(request.method, target, request.headers.get("authorization", ""))


def user_agent_text(value: str | None) -> str | None:
    """A User-Agent as stored: control characters dropped, at most USER_AGENT_MAX long, None if empty."""
    return _CONTROL.sub("", value or "")[:USER_AGENT_MAX] or None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the staff member is: their browser's address and User-Agent."""

    ip: str
    user_agent: str | None


def verified(headers, key: str, now: float, request: Bound) -> Origin | None:
    """The origin the panel signed in `headers` for `request`, or None: headers missing, the signature wrong
    (or made for another request), the time outside the window, or the address not an IP address."""
    ip, agent = headers.get(IP), headers.get(USER_AGENT)
    stamp, signed = headers.get(TIMESTAMP), headers.get(SIGNATURE)
    if ip is None or agent is None or not stamp or not signed:
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


_UNSET = object()


def staff_origin(request: Request, key: str) -> Origin | None:
    """`verified` for this request, checked once and kept on the request."""
    found = getattr(request.state, "staff_origin", _UNSET)
    if found is _UNSET:
        found = None
        if SIGNATURE in request.headers:
            found = verified(request.headers, key, time.time(), bound(request))
        request.state.staff_origin = found
    return found

"""The person's own address and browser, forwarded by the panel or the portal and believed only from them.

The panel (a staff member) and the portal (an end user) call the API from their servers: the API's socket
sees their address and HTTP client. Each sends the browser's address and User-Agent in headers of its own,
signed under a key only it and the API hold, for the very request they came with (`signed_origin`: the
message and the check, shared with both forwarders). The keys: AIADMIN_PANEL_KEY and
AIADMIN_PORTAL_FORWARDING_KEY, or made once into `$AIADMIN_DATA_DIR/panel_key` and `portal_forwarding_key`.
Headers that do not verify are ignored and the client is the socket's peer (through
AIADMIN_TRUSTED_PROXIES), as for any caller. See docs/decisions/0040, 0046 and 0051.

tests/api/core/test_forwarded.py and tests/portal/test_forwarding.py hold the forwarders to it.
"""

from __future__ import annotations

import time

from starlette.requests import Request

from signed_origin import PORTAL, STAFF, Bound, Names, Origin, verified


def bound(request: Request) -> Bound:
    """What the request the API received is: the target as it came on the wire (the ASGI server's
    `raw_path` and `query_string`), so a forwarder and the API sign the same bytes."""
    scope = request.scope
    path = (scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    target = f"{path}?{query}" if query else path
    return Bound(request.method, target, request.headers.get("authorization", ""))


_UNSET = object()


def forwarded_origin(request: Request, panel_key: str, portal_key: str) -> Origin | None:
    """The origin the panel (`X-Staff-*`) or the portal (`X-Portal-*`) signed for this request, checked
    once and kept on the request; None when neither set verifies."""
    found = getattr(request.state, "forwarded_origin", _UNSET)
    if found is _UNSET:
        found = _checked(request, STAFF, panel_key) or _checked(request, PORTAL, portal_key)
        request.state.forwarded_origin = found
    return found


def _checked(request: Request, names: Names, key: str) -> Origin | None:
    if names.signature not in request.headers:
        return None
    return verified(names, request.headers, key, time.time(), bound(request))

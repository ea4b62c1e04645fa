"""The staff member's address and browser, sent with every API call the panel makes for them, signed.

The API sees the panel's server as its client; it records the staff member's own address and User-Agent
(sign-ins, the security log, the audit log) only from these `X-Staff-*` headers, and only when their HMAC
under the panel key verifies for the very request they came with: its method, target (path and query, as
sent) and Authorization header are signed too (`signed_origin` holds the message for the panel, the portal
and the API; docs/decisions/0040, 0046). The key is AIADMIN_PANEL_KEY, else the file the API made in
$AIADMIN_DATA_DIR/panel_key; with neither, nothing is forwarded and the API records the panel's address.
"""

from __future__ import annotations

import httpx

import signed_origin
from dashboard.settings import get_dashboard_settings

PANEL_KEY_FILE = "panel_key"
# The staff member's browser (the panel's name for the signed origin).
Browser = signed_origin.Origin


def browser() -> Browser | None:
    """The browser of this script run's session (None outside one: a test, a background thread). A browser
    on the panel's own machine has no address in Streamlit: it is loopback."""
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    ip, agent = st.context.ip_address, st.context.headers.get("user-agent")
    ip = ip if isinstance(ip, str) and ip else "127.0.0.1"  # (AppTest's context holds no real values)
    agent = agent if isinstance(agent, str) else ""
    return Browser(ip, signed_origin.header_text(agent))


def bound(request: httpx.Request) -> signed_origin.Bound:
    """`request` as it will be sent: its target percent-encoded as on the wire."""
    target = request.url.raw_path.decode("ascii")
    return signed_origin.Bound(request.method, target, request.headers.get("authorization", ""))


def signature(key: str, ip: str, user_agent: str, timestamp: str, request: httpx.Request) -> str:
    """The panel's signature for `request` (`signed_origin.signature`)."""
    return signed_origin.signature(key, ip, user_agent, timestamp, bound(request))


def headers(origin: Browser | None, request: httpx.Request, now: float | None = None) -> dict[str, str]:
    """The signed headers for `request`, made on behalf of `origin` (and good for it alone); none without a
    browser or a key."""
    key = panel_key()
    if origin is None or key is None:
        return {}
    return signed_origin.sign(signed_origin.STAFF, key, origin, bound(request), now)


def panel_key() -> str | None:
    settings = get_dashboard_settings()
    configured = settings.panel_key.get_secret_value() if settings.panel_key is not None else None
    return signed_origin.shared_key(configured, settings.data_dir / PANEL_KEY_FILE)

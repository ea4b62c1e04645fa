"""The staff member's address and browser, sent with every API call the panel makes for them, signed.

The API sees the panel's server as its client; it records the staff member's own address and User-Agent
(sign-ins, the security log, the audit log) only from these headers, and only when their HMAC under the
panel key verifies for the very request they came with: its method, target (path and query, as sent) and
Authorization header are signed too (api/core/forwarded.py holds the same message; docs/decisions/0040,
0046). The key is
AIADMIN_PANEL_KEY, else the file the API made in $AIADMIN_DATA_DIR/panel_key; with neither, nothing is
forwarded and the API records the panel's address, as before.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass

import httpx

from dashboard.settings import get_dashboard_settings

PANEL_KEY_FILE = "panel_key"
USER_AGENT_MAX = 300
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")


@dataclass(frozen=True, slots=True)
class Browser:
    ip: str
    user_agent: str


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
    # HTTP headers are ASCII: anything else (and a control character) becomes "?" before it is signed.
    return Browser(ip, _NOT_PRINTABLE_ASCII.sub("?", agent)[:USER_AGENT_MAX])


def signature(key: str, ip: str, user_agent: str, timestamp: str, request: httpx.Request) -> str:
    """HMAC-SHA256 (hex) under the panel key of `timestamp|ip|user_agent|METHOD|target|sha256(authorization)`
    for `request` as it will be sent (its target percent-encoded as on the wire), as api/core/forwarded.py
    checks."""
    token = hashlib.sha256(request.headers.get("authorization", "").encode()).hexdigest()
    target = request.url.raw_path.decode("ascii")
    message = f"{timestamp}|{ip}|{user_agent}|{request.method.upper()}|{target}|{token}"
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def headers(origin: Browser | None, request: httpx.Request, now: float | None = None) -> dict[str, str]:
    """The signed headers for `request`, made on behalf of `origin` (and good for it alone); none without a
    browser or a key."""
    key = panel_key()
    if origin is None or key is None:
        return {}
    stamp = str(int(time.time() if now is None else now))
    return {
        "X-Staff-IP": origin.ip,
        "X-Staff-User-Agent": origin.user_agent,
        "X-Staff-Timestamp": stamp,
        "X-Staff-Signature": signature(key, origin.ip, origin.user_agent, stamp, request),
    }


def panel_key() -> str | None:
    settings = get_dashboard_settings()
    if settings.panel_key is not None:
        return settings.panel_key.get_secret_value() or None
    try:
        return (settings.data_dir / PANEL_KEY_FILE).read_text().strip() or None
    except OSError:
        return None

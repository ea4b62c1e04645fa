"""The admin panel: `streamlit run dashboard/app.py`.

This file is the router: it logs the staff member in through the API and registers only the pages
the role may see.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts only this folder on the path
    sys.path.insert(0, str(ROOT))

from dashboard.api_client import ApiClient, ApiError  # noqa: E402

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"
# Each page and the permission it needs; the permissions come from the API (`/api/v1/me`), which also
# enforces them on every call.
PAGES = {
    "overview": {"title": "Overview", "icon": ":material/monitoring:", "permission": "analytics:read"},
}

st.set_page_config(page_title="aiadmin", page_icon=":material/admin_panel_settings:", layout="wide")


def login_page() -> None:
    st.title("aiadmin")
    st.caption("Back office of the AI-assistant service. Staff sign in with their aiadmin account.")
    if notice := st.session_state.pop("signed_out_because", None):
        st.warning(notice)
    with st.form("login"):
        email = st.text_input("Email")
        password = st.text_input("Password", type="password")
        otp = st.text_input("Code from your authenticator app (if two-factor is on)", max_chars=32)
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        if not email or not password:
            st.error("Enter your email and password.")
            return
        try:
            staff = ApiClient().login(email, password, otp.strip() or None)
        except ApiError as exc:
            st.error(exc.message)
            return
        st.session_state["staff"] = staff
        st.rerun()


def logout() -> None:
    staff = st.session_state.pop("staff", None)
    if staff is not None:
        ApiClient().logout(staff)


staff = st.session_state.get("staff")
if staff is not None:
    # Every interaction asks the API who this is now: a block, a demotion or a revoked session signs out.
    try:
        staff = st.session_state["staff"] = ApiClient().revalidate(staff)
    except ApiError as exc:
        st.session_state.pop("staff", None)
        st.session_state["signed_out_because"] = f"You were signed out: {exc.message}"
        staff = None
if staff is None:
    st.navigation([st.Page(login_page, title="Sign in", icon=":material/login:")], position="hidden").run()
else:
    with st.sidebar:
        st.write(f"**{staff.email}**  \n{staff.role}")
        st.button("Sign out", on_click=logout, icon=":material/logout:")
    pages = [
        st.Page(str(PAGES_DIR / f"{name}.py"), title=page["title"], icon=page["icon"])
        for name, page in PAGES.items()
        if page["permission"] in staff.permissions
    ]
    if pages:
        st.navigation(pages).run()
    else:
        st.info("Your role has no pages in the panel yet.")

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

from dashboard import i18n, ui  # noqa: E402
from dashboard.api_client import ApiClient, ApiError, SessionEnded  # noqa: E402

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"
# Each page, its section, its icon and the permission it needs (the titles are `app.pages.<page>` and
# `app.sections.<section>` in the catalogues); the permissions come from the API (`/api/v1/me`), which also
# enforces them on every call.
PAGES = {
    "overview": ("analytics", ":material/monitoring:", "analytics:read"),
    "reports": ("analytics", ":material/summarize:", "analytics:read"),
    "intents": ("analytics", ":material/topic:", "analytics:read"),
    "users": ("people", ":material/group:", "users:read"),
    "requests": ("people", ":material/manage_search:", "users:read"),
    "moderation": ("people", ":material/flag:", "moderation:review"),
    "audit": ("system", ":material/policy:", "audit:read"),
    # users and logs pages
    "models": ("catalogue", ":material/neurology:", "analytics:read"),
    "roles": ("catalogue", ":material/psychology:", "analytics:read"),
    "playground": ("catalogue", ":material/science:", "catalogue:write"),
    "providers": ("catalogue", ":material/key:", "providers:write"),
    "plans": ("catalogue", ":material/workspace_premium:", "users:read"),
    "cache": ("catalogue", ":material/cached:", "analytics:read"),
    "experiments": ("catalogue", ":material/experiment:", "analytics:read"),
    "settings": ("system", ":material/settings:", "settings:write"),
    # catalogue pages
    "notifications": ("messaging", ":material/send:", "notifications:send"),
    "alerts": ("messaging", ":material/notifications_active:", "health:read"),
    "health": ("system", ":material/monitor_heart:", "health:read"),
    # messaging and system pages
}
SECTIONS = ("analytics", "people", "catalogue", "messaging", "system")  # in the order the sidebar shows them


def language_picker() -> None:
    st.selectbox(
        i18n.t("common.language"), list(i18n.LANGUAGES), format_func=i18n.LANGUAGES.get, key="locale",
        label_visibility="collapsed",
    )  # fmt: skip


st.set_page_config(page_title="aiadmin", page_icon=":material/admin_panel_settings:", layout="wide")


def login_page() -> None:
    language_picker()
    st.title("aiadmin")
    st.caption(i18n.t("app.tagline"))
    if notice := st.session_state.pop("signed_out_because", None):
        st.warning(i18n.t("app.signed_out", reason=notice))
    with st.form("login"):
        email = st.text_input(i18n.t("app.email"))
        password = st.text_input(i18n.t("app.password"), type="password")
        otp = st.text_input(i18n.t("app.otp"), max_chars=32)
        submitted = st.form_submit_button(i18n.t("app.sign_in"), type="primary")
    if submitted:
        if not email or not password:
            st.error(i18n.t("app.enter_both"))
            return
        try:
            staff = ApiClient().login(email, password, otp.strip() or None)
        except ApiError as exc:
            st.error(i18n.error(exc.code, exc.message, exc.params))
            return
        st.session_state["staff"] = staff
        st.rerun()


def logout() -> None:
    staff = st.session_state.pop("staff", None)
    if staff is not None:
        ApiClient().logout(staff)


def enrol_page() -> None:
    """The one page of a staff member whose role needs TOTP and who has none yet (the API allows nothing
    else): a new key, a first code to turn it on, the recovery codes once."""
    staff = st.session_state["staff"]
    client = ApiClient.of(staff)
    st.title(i18n.t("app.enrol"))
    if codes := st.session_state.get("recovery_codes"):
        st.success(i18n.t("app.enrol_done"))
        st.code("\n".join(codes), language=None)
        if st.button(i18n.t("app.continue"), type="primary"):
            st.session_state.pop("recovery_codes")
            st.rerun()
        return
    st.write(i18n.t("app.enrol_why"))
    if "totp_setup" not in st.session_state:
        try:
            st.session_state["totp_setup"] = client.post("/api/v1/auth/2fa/setup")
        except ApiError as exc:
            st.error(i18n.error(exc.code, exc.message, exc.params))
            return
    setup = st.session_state["totp_setup"]
    st.text_input(i18n.t("app.enrol_key"), setup["secret"], disabled=True)
    st.code(setup["otpauth_uri"], language=None)
    with st.form("enrol"):
        password = st.text_input(i18n.t("app.password"), type="password")  # the API asks for it again
        code = st.text_input(i18n.t("app.enrol_code"), max_chars=6)
        submitted = st.form_submit_button(i18n.t("app.enrol_confirm"), type="primary")
    if submitted:
        try:
            done = client.post("/api/v1/auth/2fa/enable", {"code": code.strip(), "password": password})
        except ApiError as exc:
            st.error(i18n.error(exc.code, exc.message, exc.params))
            return
        st.session_state.pop("totp_setup", None)
        st.session_state["recovery_codes"] = done["recovery_codes"]
        st.session_state["staff"] = ApiClient().revalidate(staff)
        st.rerun()


def navigation(staff) -> dict[str, list]:
    """The pages the role may see, by section, titled in the current language."""
    sections: dict[str, list] = {}
    for section in SECTIONS:
        for name, (in_section, icon, permission) in PAGES.items():
            if in_section == section and permission in staff.permissions:
                title = i18n.t(f"app.pages.{name}")
                page = st.Page(str(PAGES_DIR / f"{name}.py"), title=title, icon=icon, url_path=name)
                sections.setdefault(i18n.t(f"app.sections.{section}"), []).append(page)
    return sections


st.session_state.setdefault("locale", "en")
staff = st.session_state.get("staff")
if staff is not None:
    # Every interaction asks the API who this is now: a block, a demotion or a revoked session signs out.
    # The token is refreshed ahead of its expiry (dashboard/api_client.py `Credentials`).
    try:
        staff = st.session_state["staff"] = ApiClient().revalidate(staff)
    except SessionEnded:
        st.session_state.pop("staff", None)
        st.session_state["signed_out_because"] = i18n.t("app.session_ended")
        staff = None
    except ApiError as exc:
        st.session_state.pop("staff", None)
        st.session_state["signed_out_because"] = i18n.error(exc.code, exc.message, exc.params)
        staff = None
if staff is None:
    st.navigation(
        [st.Page(login_page, title=i18n.t("app.sign_in"), icon=":material/login:")], position="hidden"
    ).run()
else:
    with st.sidebar:
        language_picker()
        st.write(f"**{staff.email}**  \n{staff.role}")
        st.button(i18n.t("common.sign_out"), on_click=logout, icon=":material/logout:")
    if staff.must_enrol or st.session_state.get("recovery_codes"):
        st.navigation(
            [st.Page(enrol_page, title=i18n.t("app.enrol"), icon=":material/lock:")], position="hidden"
        ).run()
    elif pages := navigation(staff):
        try:
            # Every page listed: above twelve Streamlit would hide the rest behind "View more".
            st.navigation(pages, expanded=True).run()
        except SessionEnded:  # a call the page made outside `ui.call`: signed out all the same, no error box
            ui.session_ended()
    else:
        st.info(i18n.t("app.no_pages"))

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

from dashboard import i18n  # noqa: E402
from dashboard.api_client import ApiClient, ApiError  # noqa: E402

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"
# Each page, its section, its title in English and Russian, and the permission it needs; the permissions
# come from the API (`/api/v1/me`), which also enforces them on every call.
PAGES = {
    "overview": ("analytics", "Overview", "Обзор", ":material/monitoring:", "analytics:read"),
    "reports": ("analytics", "Reports", "Отчёты", ":material/summarize:", "analytics:read"),
    "users": ("people", "Users", "Пользователи", ":material/group:", "users:read"),
    "audit": ("system", "Audit & logs", "Аудит и журналы", ":material/policy:", "audit:read"),
    # users and logs pages
    "models": ("catalogue", "Models", "Модели", ":material/neurology:", "analytics:read"),
    "roles": ("catalogue", "Roles & prompts", "Роли и промпты", ":material/psychology:", "analytics:read"),
    "providers": ("catalogue", "Providers & keys", "Провайдеры и ключи", ":material/key:", "providers:write"),
    "plans": ("catalogue", "Plans & limits", "Тарифы и лимиты", ":material/workspace_premium:", "users:read"),
    "settings": ("system", "Settings", "Настройки", ":material/settings:", "settings:write"),
    # catalogue pages
    "notifications": ("messaging", "Notifications", "Уведомления", ":material/send:", "notifications:send"),
    "alerts": ("messaging", "Alerts", "Оповещения", ":material/notifications_active:", "health:read"),
    "health": ("system", "System health", "Состояние системы", ":material/monitor_heart:", "health:read"),
    # messaging and system pages
}
SECTIONS = {
    "analytics": ("Analytics", "Аналитика"),
    "people": ("Users", "Пользователи"),
    "catalogue": ("Catalogue", "Каталог"),
    "messaging": ("Messaging", "Сообщения"),
    "system": ("System", "Система"),
}
T = i18n.texts(
    {
        "tagline": (
            "Back office of the AI-assistant service. Staff sign in with their aiadmin account.",
            "Бэк-офис сервиса ИИ-ассистентов. Сотрудники входят со своей учётной записью aiadmin.",
        ),
        "email": ("Email", "Эл. почта"),
        "password": ("Password", "Пароль"),
        "otp": (
            "Code from your authenticator app (if two-factor is on)",
            "Код из приложения-аутентификатора (если включена двухфакторная защита)",
        ),
        "sign_in": ("Sign in", "Войти"),
        "enter_both": ("Enter your email and password.", "Введите эл. почту и пароль."),
        "signed_out": ("You were signed out: {reason}", "Вы вышли из системы: {reason}"),
        "no_pages": ("Your role has no pages in the panel yet.", "Для вашей роли в панели пока нет страниц."),
        "enrol": ("Set up two-factor authentication", "Настройка двухфакторной аутентификации"),
        "enrol_why": (
            "Your role needs a second factor before it can do anything else. Add this key to an "
            "authenticator app (Google Authenticator, 1Password, Aegis…), then enter the code it shows.",
            "Вашей роли нужен второй фактор, прежде чем станет доступно что-либо ещё. Добавьте этот ключ в "
            "приложение-аутентификатор (Google Authenticator, 1Password, Aegis…) и введите показанный код.",
        ),
        "enrol_key": ("Key", "Ключ"),
        "enrol_code": ("Code from the app", "Код из приложения"),
        "enrol_confirm": ("Turn on two-factor authentication", "Включить двухфакторную аутентификацию"),
        "enrol_done": (
            "Two-factor authentication is on. Keep these recovery codes somewhere safe: each works once "
            "instead of a code, and they are shown only now.",
            "Двухфакторная аутентификация включена. Сохраните эти коды восстановления: каждый работает один "
            "раз вместо кода, и показываются они только сейчас.",
        ),
        "continue": ("Continue", "Продолжить"),
    }
)


def language_picker() -> None:
    st.selectbox(
        i18n.t("language"), list(i18n.LANGUAGES), format_func=i18n.LANGUAGES.get, key="locale",
        label_visibility="collapsed",
    )  # fmt: skip


st.set_page_config(page_title="aiadmin", page_icon=":material/admin_panel_settings:", layout="wide")


def login_page() -> None:
    language_picker()
    st.title("aiadmin")
    st.caption(T("tagline"))
    if notice := st.session_state.pop("signed_out_because", None):
        st.warning(T("signed_out", reason=notice))
    with st.form("login"):
        email = st.text_input(T("email"))
        password = st.text_input(T("password"), type="password")
        otp = st.text_input(T("otp"), max_chars=32)
        submitted = st.form_submit_button(T("sign_in"), type="primary")
    if submitted:
        if not email or not password:
            st.error(T("enter_both"))
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


def enrol_page() -> None:
    """The one page of a staff member whose role needs TOTP and who has none yet (the API allows nothing
    else): a new key, a first code to turn it on, the recovery codes once."""
    staff = st.session_state["staff"]
    client = ApiClient.of(staff)
    st.title(T("enrol"))
    if codes := st.session_state.get("recovery_codes"):
        st.success(T("enrol_done"))
        st.code("\n".join(codes), language=None)
        if st.button(T("continue"), type="primary"):
            st.session_state.pop("recovery_codes")
            st.rerun()
        return
    st.write(T("enrol_why"))
    if "totp_setup" not in st.session_state:
        try:
            st.session_state["totp_setup"] = client.post("/api/v1/auth/2fa/setup")
        except ApiError as exc:
            st.error(exc.message)
            return
    setup = st.session_state["totp_setup"]
    st.text_input(T("enrol_key"), setup["secret"], disabled=True)
    st.code(setup["otpauth_uri"], language=None)
    with st.form("enrol"):
        code = st.text_input(T("enrol_code"), max_chars=6)
        submitted = st.form_submit_button(T("enrol_confirm"), type="primary")
    if submitted:
        try:
            done = client.post("/api/v1/auth/2fa/enable", {"code": code.strip()})
        except ApiError as exc:
            st.error(exc.message)
            return
        st.session_state.pop("totp_setup", None)
        st.session_state["recovery_codes"] = done["recovery_codes"]
        st.session_state["staff"] = ApiClient().revalidate(staff)
        st.rerun()


def navigation(staff) -> dict[str, list]:
    """The pages the role may see, by section, titled in the current language."""
    russian = i18n.current() == "ru"
    sections: dict[str, list] = {}
    for section, labels in SECTIONS.items():
        for name, (in_section, english, russian_title, icon, permission) in PAGES.items():
            if in_section == section and permission in staff.permissions:
                title = russian_title if russian else english
                page = st.Page(str(PAGES_DIR / f"{name}.py"), title=title, icon=icon, url_path=name)
                sections.setdefault(labels[1 if russian else 0], []).append(page)
    return sections


st.session_state.setdefault("locale", "en")
staff = st.session_state.get("staff")
if staff is not None:
    # Every interaction asks the API who this is now: a block, a demotion or a revoked session signs out.
    try:
        staff = st.session_state["staff"] = ApiClient().revalidate(staff)
    except ApiError as exc:
        st.session_state.pop("staff", None)
        st.session_state["signed_out_because"] = exc.message
        staff = None
if staff is None:
    st.navigation([st.Page(login_page, title=T("sign_in"), icon=":material/login:")], position="hidden").run()
else:
    with st.sidebar:
        language_picker()
        st.write(f"**{staff.email}**  \n{staff.role}")
        st.button(i18n.t("sign_out"), on_click=logout, icon=":material/logout:")
    if staff.must_enrol or st.session_state.get("recovery_codes"):
        st.navigation(
            [st.Page(enrol_page, title=T("enrol"), icon=":material/lock:")], position="hidden"
        ).run()
    elif pages := navigation(staff):
        st.navigation(pages).run()
    else:
        st.info(T("no_pages"))

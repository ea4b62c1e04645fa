"""What every page uses: the signed-in staff member and their API client, permission checks for buttons,
exports of what is shown, confirmations before actions, and errors shown the same way everywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from dashboard import i18n
from dashboard.api_client import ApiClient, ApiError, StaffSession
from warehouse.exports import to_csv_bytes, to_xlsx_bytes

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
R = TypeVar("R")


def staff() -> StaffSession:
    """The signed-in staff member (app.py signs in before any page runs; a page run alone stops here)."""
    member = st.session_state.get("staff")
    if member is None:
        st.stop()
    return member


def api() -> ApiClient:
    return ApiClient.of(staff())


def can(permission: str) -> bool:
    """Whether to offer an action; the API checks again on every call."""
    member = st.session_state.get("staff")
    return member is not None and permission in member.permissions


def call(action: Callable[[], R], *, success: str | None = None) -> R | None:
    """Run an API call; its refusal is shown as an error (the API's message), never raised."""
    try:
        result = action()
    except ApiError as exc:
        st.error(exc.message, icon=":material/error:")
        return None
    if success:
        st.toast(success, icon=":material/check_circle:")
    return result


def confirmed(key: str, label: str, *, icon: str | None = None, disabled: bool = False) -> bool:
    """A button that asks again before it acts: True once the second, "Confirm", is pressed."""
    asking = f"confirming:{key}"
    if st.session_state.get(asking):
        st.warning(i18n.t("are_you_sure", action=label))
        yes, no = st.columns(2)
        if yes.button(i18n.t("confirm"), key=f"{key}:yes", type="primary"):
            st.session_state.pop(asking)
            return True
        if no.button(i18n.t("cancel"), key=f"{key}:no"):
            st.session_state.pop(asking)
            st.rerun()
        return False
    if st.button(label, key=key, icon=icon, disabled=disabled):
        st.session_state[asking] = True
        st.rerun()
    return False


def export_buttons(frame: pd.DataFrame, name: str, *, key: str | None = None) -> None:
    """CSV and XLSX downloads of the table as it is shown."""
    key = key or name
    left, right = st.columns(2)
    left.download_button(
        i18n.t("download_csv"), to_csv_bytes(frame), f"{name}.csv", "text/csv", key=f"{key}:csv",
        icon=":material/download:",
    )  # fmt: skip
    right.download_button(
        i18n.t("download_xlsx"), to_xlsx_bytes(frame, name), f"{name}.xlsx", XLSX, key=f"{key}:xlsx",
        icon=":material/download:",
    )  # fmt: skip


def table(
    rows: list[dict[str, Any]] | pd.DataFrame, name: str, *, empty: str | None = None, **options
) -> pd.DataFrame:
    """A table with its CSV/XLSX downloads, or a helpful empty state."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if frame.empty:
        st.info(empty or i18n.t("no_data"), icon=":material/inbox:")
        return frame
    st.dataframe(frame, hide_index=True, width="stretch", **options)
    export_buttons(frame, name)
    return frame


def period(key: str, days: int = 30) -> tuple[date, date]:
    """A date range picker (UTC days), the last `days` days by default."""
    today = datetime.now(UTC).date()
    picked = st.date_input(
        i18n.t("period"), value=(today - timedelta(days=days - 1), today), max_value=today, key=key
    )
    if isinstance(picked, tuple | list) and picked:
        return picked[0], picked[-1]
    return today - timedelta(days=days - 1), today

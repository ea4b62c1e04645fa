"""Overview: daily active users, completions and tokens, from the published warehouse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import streamlit as st

from warehouse.exports import to_csv_bytes, to_xlsx_bytes
from warehouse.queries import ServingNotReady, daily_usage


@st.cache_data(ttl=60, show_spinner=False)
def load_daily_usage(role: str, start: date | None, end: date | None) -> pd.DataFrame:
    """Cached per role and range (the role is in the key so pages never share another role's data)."""
    del role
    return daily_usage(start, end)


staff = st.session_state.get("staff")
role = staff.role if staff else "anonymous"

st.title("Overview")
today = datetime.now(UTC).date()
picked = st.date_input("Period (UTC days)", value=(today - timedelta(days=29), today), max_value=today)
start, end = (picked[0], picked[-1]) if isinstance(picked, tuple) and picked else (None, None)

try:
    with st.spinner("Loading usage…"):
        usage = load_daily_usage(role, start, end)
except ServingNotReady:
    st.info("No analytics yet: the pipeline has not published the warehouse. Run `aiadmin pipeline run`.")
    st.stop()

if usage.empty:
    st.info("No activity in this period yet.")
    st.stop()

latest = usage.iloc[-1]
previous = usage.iloc[-2] if len(usage) > 1 else None


def delta(column: str):
    return None if previous is None else int(latest[column] - previous[column])


cols = st.columns(4)
cols[0].metric(f"DAU ({latest['day']:%Y-%m-%d})", f"{int(latest['active_users']):,}", delta("active_users"))
cols[1].metric("Completions in period", f"{int(usage['completions'].sum()):,}")
cols[2].metric("Input tokens in period", f"{int(usage['input_tokens'].sum()):,}")
cols[3].metric("Output tokens in period", f"{int(usage['output_tokens'].sum()):,}")

chart = usage.set_index("day")
left, right = st.columns(2)
with left:
    st.subheader("Daily active users")
    st.line_chart(chart[["active_users"]], y_label="users")
with right:
    st.subheader("Completions per day")
    st.bar_chart(chart[["completions"]], y_label="completions")
st.subheader("Tokens per day")
st.area_chart(chart[["input_tokens", "output_tokens"]], y_label="tokens")

with st.expander("Data"):
    st.dataframe(usage, hide_index=True, width="stretch")
    name = f"daily_usage_{usage['day'].min():%Y%m%d}_{usage['day'].max():%Y%m%d}"
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", to_csv_bytes(usage), f"{name}.csv", "text/csv")
    c2.download_button(
        "Download XLSX",
        to_xlsx_bytes(usage, "daily_usage"),
        f"{name}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )

"""What every page uses: the signed-in staff member and their API client, permission checks for buttons,
exports of what is shown, confirmations before actions, and errors shown the same way everywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, NoReturn, TypeVar

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from dashboard import i18n
from dashboard.api_client import ApiClient, ApiError, SessionEnded, StaffSession
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


# How often an open analytics page looks for a new publication of the serving copy (one `stat`).
AS_OF_POLL_SECONDS = 2


def data_as_of() -> str:
    """Say under an analytics page's title when the serving copy was published ("data as of"), and return
    its publication stamp. The page's analytics caches are keyed on it (`analytics`), and the page runs
    again when a new one is published: new figures show within seconds, and nothing waits for a timer."""
    from warehouse.as_of import as_of

    now = as_of()
    _as_of_caption(now.published_at)
    _follow_publications(now.stamp)
    return now.stamp


def _as_of_caption(published_at: datetime | None) -> None:
    if published_at is not None:
        at = f"{i18n.day(published_at)} {published_at:%H:%M:%S} UTC"
        st.caption(i18n.t("common.data_as_of", at=at), help=i18n.t("common.data_as_of_help"))


@st.fragment(run_every=AS_OF_POLL_SECONDS)
def _follow_publications(shown: str) -> None:
    from warehouse.as_of import as_of

    if as_of().stamp != shown:
        st.rerun()


@st.cache_data(max_entries=256, show_spinner=False)
def analytics(stamp: str, role: str, name: str, start: date | None, end: date | None, **options) -> Any:
    """A warehouse query (warehouse/queries.py), cached per publication of the serving copy (`stamp`), role
    (so pages never share another role's data), range and options. No range (both None): a query without
    one (`catalogue_usage`) is called without it."""
    from warehouse import queries

    del stamp, role
    dates = {} if start is None and end is None else {"start": start, "end": end}
    return getattr(queries, name)(**dates, **options)


def can(permission: str) -> bool:
    """Whether to offer an action; the API checks again on every call."""
    member = st.session_state.get("staff")
    return member is not None and permission in member.permissions


def call(action: Callable[[], R], *, success: str | None = None) -> R | None:
    """Run an API call; its refusal is shown as an error (the API's message), never raised."""
    try:
        result = action()
    except SessionEnded:
        session_ended()
    except ApiError as exc:
        st.error(i18n.error(exc.code, exc.message, exc.params), icon=":material/error:")
        return None
    if success:
        st.toast(success, icon=":material/check_circle:")
    return result


def confirmed(key: str, label: str, *, icon: str | None = None, disabled: bool = False) -> bool:
    """A button that asks again before it acts: True once the second, "Confirm", is pressed."""
    asking = f"confirming:{key}"
    if st.session_state.get(asking):
        st.warning(i18n.t("common.are_you_sure", action=label))
        yes, no = st.columns(2)
        if yes.button(i18n.t("common.confirm"), key=f"{key}:yes", type="primary"):
            st.session_state.pop(asking)
            return True
        if no.button(i18n.t("common.cancel"), key=f"{key}:no"):
            st.session_state.pop(asking)
            st.rerun()
        return False
    if st.button(label, key=key, icon=icon, disabled=disabled):
        st.session_state[asking] = True
        st.rerun()
    return False


DOWNLOADS = "/api/v1/admin/audit/downloads"


def record_download(name: str, fmt: str, frame: pd.DataFrame) -> None:
    """Tell the API's audit log that the staff member took this table as a file (it was made here)."""
    body = {"name": name, "format": fmt, "rows": len(frame), "columns": [str(c) for c in frame.columns]}
    call(lambda: api().post(DOWNLOADS, body))


def export_buttons(frame: pd.DataFrame, name: str, *, key: str | None = None) -> None:
    """CSV and XLSX downloads of the table as it is shown; each download is in the audit log. The files are
    made when a button is clicked, not on every run of the page (an XLSX per table was most of a render)."""
    key = key or name
    left, right = st.columns(2)
    left.download_button(
        i18n.t("common.download_csv"), lambda: to_csv_bytes(frame), f"{name}.csv", "text/csv",
        key=f"{key}:csv", icon=":material/download:", on_click=record_download, args=(name, "csv", frame),
    )  # fmt: skip
    right.download_button(
        i18n.t("common.download_xlsx"), lambda: to_xlsx_bytes(frame, name), f"{name}.xlsx", XLSX,
        key=f"{key}:xlsx", icon=":material/download:", on_click=record_download, args=(name, "xlsx", frame),
    )  # fmt: skip


def table(
    rows: list[dict[str, Any]] | pd.DataFrame, name: str, *, empty: str | None = None, **options
) -> pd.DataFrame:
    """A table with its CSV/XLSX downloads, or a helpful empty state. Numbers and times that a page wrote
    with i18n (`number`, `day`, `moment`, …) in `rows` are downloaded as the values they show: typed cells.
    A DataFrame is taken as it is: pandas makes the text of a Shown plain text (its value is lost), so a
    table with formatted cells is given as rows."""
    if isinstance(rows, pd.DataFrame):
        frame = typed = rows
    else:  # the text shown, and the values behind it for the downloads (i18n.Shown)
        frame = pd.DataFrame(
            [{k: str(v) if isinstance(v, i18n.Shown) else v for k, v in r.items()} for r in rows]
        )
        typed = pd.DataFrame(
            [{k: v.value if isinstance(v, i18n.Shown) else v for k, v in r.items()} for r in rows]
        )
    if frame.empty:
        st.info(empty or i18n.t("common.no_data"), icon=":material/inbox:")
        return frame
    st.dataframe(localized(frame), hide_index=True, width="stretch", **options)
    export_buttons(labelled(typed), name)  # headers as shown, cells typed
    return frame


def localized(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as the staff member reads it (decision 0039): snake_case columns under their labels in the
    current language (`i18n.column`; a header already worded by the page stays as it is) and dates in the
    locale's form. Numbers stay numbers, so that a column still sorts; the caller keeps the raw frame."""
    shown = labelled(frame)
    for name in shown.columns:
        if pd.api.types.is_datetime64_any_dtype(shown[name]) or _holds(shown[name], date):
            shown[name] = shown[name].map(_when)
    if isinstance(shown.index.name, str):
        shown = shown.rename_axis(index=i18n.column(shown.index.name))
    return shown


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its snake_case columns under their labels in the current language (`i18n.column`)."""
    return frame.rename(columns=lambda name: i18n.column(name) if isinstance(name, str) else name)


def _holds(values: pd.Series, kind: type) -> bool:
    present = values.dropna()
    return not present.empty and isinstance(present.iloc[0], kind)


def _when(value: Any) -> Any:
    """A day as `i18n.day`, a moment with a time of day as `i18n.moment`; anything else as it is."""
    if isinstance(value, datetime) and (value.hour, value.minute, value.second) != (0, 0, 0):
        return i18n.moment(value)
    return i18n.day(value) if isinstance(value, date) else value


def heat_shades(matrix: pd.DataFrame) -> pd.DataFrame:
    """CSS for a heatmap over the whole matrix: white at its lowest value, blue at its highest, dark text on
    light cells and white on dark ones (pandas' background_gradient would need matplotlib, which is not a
    dependency). Empty cells stay unshaded."""
    low, high = matrix.min().min(), matrix.max().max()
    span = (high - low) or 1

    def shade(value: float) -> str:
        if pd.isna(value):
            return ""
        share = (value - low) / span  # 0..1
        red, green, blue = (
            round(a + (b - a) * share) for a, b in zip((247, 251, 255), (8, 48, 107), strict=True)
        )
        text = "#ffffff" if share > 0.5 else "#000000"
        return f"background-color: rgb({red}, {green}, {blue}); color: {text}"

    return matrix.map(shade)


def period(key: str, days: int = 30) -> tuple[date, date]:
    """A date range picker (UTC days), the last `days` days by default."""
    today = datetime.now(UTC).date()
    picked = st.date_input(
        i18n.t("common.period"), value=(today - timedelta(days=days - 1), today), max_value=today, key=key
    )
    if isinstance(picked, tuple | list) and picked:
        return picked[0], picked[-1]
    return today - timedelta(days=days - 1), today


def changed(
    message: str, *, forget: str | None = None, clear: str | None = None, where: str | None = None
) -> None:
    """After a change: run the page again so that it shows the new state, `message` on top (`notice`), or
    where `notice(where)` is (the tab the action is in: say what was done to which object). `clear` empties
    the inputs whose keys start with it, in the browser too (a creation form starts again, a used reason is
    not offered for the next action); `forget` drops what the server holds of the widgets whose keys start
    with it (an edit form whose defaults are the object's values, which the change may have moved)."""
    if forget:
        for key in [k for k in st.session_state if str(k).startswith(forget)]:
            del st.session_state[key]
    if clear:
        for key in [k for k in st.session_state if str(k).startswith(clear)]:
            if (default := _default(key)) is _NO_DEFAULT:
                del st.session_state[key]
            else:
                st.session_state.setdefault("ui:clear", {})[key] = default
    st.session_state[f"ui:notice:{where}" if where else "ui:notice"] = message
    st.rerun()


_NO_DEFAULT = object()
# The widgets whose value the session state may set (buttons, uploads and table editors may not).
_SETTABLE = frozenset(("string_value", "double_value", "int_value", "bool_value", "string_array_value",
                       "double_array_value", "int_array_value"))  # fmt: skip


def _default(key: str) -> Any:
    """The value the widget `key` had when new (Streamlit's record of it), or `_NO_DEFAULT`."""
    from streamlit.runtime.state.session_state_proxy import get_session_state

    state = getattr(get_session_state(), "_state", None)
    try:
        metadata = state.get_widget_metadata(state.get_widget_id_from_key(key))
    except (AttributeError, KeyError, TypeError):  # not a widget, or another Streamlit than 1.67
        return _NO_DEFAULT
    if metadata is None or metadata.value_type not in _SETTABLE:
        return _NO_DEFAULT
    return metadata.deserializer(None)


def notice(where: str | None = None) -> None:
    """The message the last change left (`changed`), shown once at the top of the page (or here, for the
    change made `where`). At the top (no `where`), before any widget, it also empties the inputs the change
    used (`clear`): set through the session state, the browser is told to show them so (a deleted key would
    keep showing what was typed, and the browser would send it again)."""
    if where is None:
        for key, value in st.session_state.pop("ui:clear", {}).items():
            try:
                st.session_state[key] = value
            except StreamlitAPIException:  # a widget the session state may not set (a table editor)
                del st.session_state[key]
    if message := st.session_state.pop(f"ui:notice:{where}" if where else "ui:notice", None):
        st.success(message, icon=":material/check_circle:")


def session_ended() -> NoReturn:
    """The session cannot go on (`SessionEnded`): sign out of the panel and show the sign-in page with why,
    instead of an error box (also from a fragment, the live strip: the whole app runs again)."""
    st.session_state.pop("staff", None)
    st.session_state["signed_out_because"] = i18n.t("app.session_ended")
    st.rerun()


def kept_tabs(key: str, names: dict[str, str]) -> dict[str, Any]:
    """Tabs (`names`: id → label) that stay on the tab picked across reruns, such as the one an action
    makes, and across a change of language; the tab containers by id. Every tab's content still runs."""
    picked = st.session_state.get(f"{key}:id")
    if picked in names and st.session_state.get(key) != names[picked]:
        st.session_state[key] = names[picked]  # the same tab under its label in this language
    containers = st.tabs(list(names.values()), key=key, on_change=_remember_tab, args=(key, names))
    return dict(zip(names, containers, strict=True))


def _remember_tab(key: str, names: dict[str, str]) -> None:
    label = st.session_state.get(key)
    st.session_state[f"{key}:id"] = next((id_ for id_, name in names.items() if name == label), None)


def metrics(values: list[tuple[str, str] | tuple[str, str, str | None]], *, per_row: int = 3) -> None:
    """Labelled figures (each with a change against before, if given) in a row that wraps on a narrow screen
    rather than cutting a figure short (decision 0039); `per_row` is how many fit on a wide one."""
    del per_row  # the row wraps by itself: a figure takes the room its label and value need
    with st.container(horizontal=True, gap="medium"):
        for label, value, *delta in values:
            st.metric(label, value, delta[0] if delta else None, width="content")


def chart(
    frame: pd.DataFrame,
    x: str,
    series: list[str],
    *,
    kind: str = "line",
    stack: bool = False,
    horizontal: bool = False,
    height: int | None = None,
    by: str | None = None,
) -> None:
    """A line, area or bar chart of `series` (columns of `frame`) against `x`, with its axes, legend and
    figures in the staff member's language (decision 0039): labels from `i18n.column`, number and time
    formats from `i18n.chart_locale`. Bars and areas stack when `stack`; `horizontal` bars keep the frame's
    order, one per `x`. `by` (a column of values, e.g. topic names): one line per value of it, of the one
    series given, in the frame's order of first appearance."""
    import altair as alt

    if by is not None:
        long = frame[[x, by, series[0]]].rename(columns={by: "series", series[0]: "value"})
        names = list(dict.fromkeys(long["series"]))
        x_title, y_title = i18n.column(x), i18n.column(series[0])
    else:
        long = frame[[x, *series]].melt(x, series, var_name="series", value_name="value")
        long["series"] = long["series"].map(i18n.column)
        names = [i18n.column(name) for name in series]
        x_title, y_title = i18n.column(x), names[0] if len(names) == 1 else None
    x_type = "T" if pd.api.types.is_datetime64_any_dtype(frame[x]) or _holds(frame[x], date) else "N"
    position, measure = (alt.Y, alt.X) if horizontal else (alt.X, alt.Y)
    marks = {"line": alt.MarkDef(type="line", point=True), "area": "area", "bar": "bar"}
    encoded = alt.Chart(long, height=height or alt.Undefined, mark=marks[kind]).encode(
        position(f"{x}:{x_type}", title=x_title, sort=None),
        measure("value:Q", title=y_title, stack="zero" if stack else None),
        alt.Color("series:N", title=None, sort=names, legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip(f"{x}:{x_type}", title=x_title), alt.Tooltip("series:N", title=" "),
                 alt.Tooltip("value:Q", title=y_title or " ", format=",")],
    )  # fmt: skip
    if locale := i18n.chart_locale():
        encoded = encoded.configure(locale=locale)
    st.altair_chart(encoded, width="stretch")


def number_params(text: str) -> dict[str, float | int] | None:
    """Default parameters typed as JSON (`{"temperature": 0.7}`), or None with the reason shown."""
    import json

    try:
        value = json.loads(text.strip() or "{}")
        if not isinstance(value, dict):
            raise ValueError(i18n.t("ui.params_object"))
        for name, number in value.items():
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise ValueError(i18n.t("ui.params_number", name=name))
        if len(value) > 10:
            raise ValueError(i18n.t("ui.params_many"))
    except ValueError as exc:
        st.error(i18n.t("ui.params_json", error=exc), icon=":material/error:")
        return None
    return value


def list_downloads(
    path: str, name: str, *, key: str | None = None, make: Callable[[str], bytes] | None = None, **params
) -> None:
    """CSV and XLSX downloads of a whole filtered list (every page), made by the API's `/export` endpoint
    with `params` only when a button is clicked. `make(format)` replaces the plain API call if given."""
    client = api()  # bound now: the download runs outside the page's script, without its session

    def fetch(fmt: str) -> bytes:
        return make(fmt) if make else client.download(path, format=fmt, **params)

    key = key or name
    left, right = st.columns(2)
    left.download_button(
        i18n.t("ui.download_all_csv"), lambda: fetch("csv"), f"{name}.csv", "text/csv", key=f"{key}:csv",
        on_click="ignore", icon=":material/download:",
    )  # fmt: skip
    right.download_button(
        i18n.t("ui.download_all_xlsx"), lambda: fetch("xlsx"), f"{name}.xlsx", XLSX, key=f"{key}:xlsx",
        on_click="ignore", icon=":material/download:",
    )  # fmt: skip


def page_offset(key: str, size: int, filters: object) -> int:
    """The offset of the page the list `key` is on; back to the first page whenever `filters` change."""
    seen = f"{key}:filters"
    if st.session_state.get(seen) != (filters, size):
        st.session_state[seen] = (filters, size)
        st.session_state[key] = 1
    return (st.session_state.get(key, 1) - 1) * size


def _turn_page(key: str, step: int) -> None:
    st.session_state[key] = max(1, st.session_state.get(key, 1) + step)


def page_buttons(key: str, *, size: int, shown: int, total: int | None = None) -> None:
    """Previous / next under a list fetched at `page_offset(key, ...)`; with the total when the API gives it
    (else "next" stops at a short page)."""
    page = st.session_state.get(key, 1)
    pages = max(1, -(-total // size)) if total is not None else None
    last = page >= pages if pages is not None else shown < size
    left, middle, right = st.columns(3, vertical_alignment="center")
    left.button(
        i18n.t("ui.previous"), key=f"{key}:previous", disabled=page <= 1, on_click=_turn_page, args=(key, -1),
        icon=":material/chevron_left:", width="stretch",
    )  # fmt: skip
    middle.caption(i18n.t("ui.page_of", page=page, pages=pages) if pages else i18n.t("ui.page", page=page))
    right.button(
        i18n.t("ui.next"), key=f"{key}:next", disabled=last, on_click=_turn_page, args=(key, 1),
        icon=":material/chevron_right:", width="stretch",
    )  # fmt: skip


def fetch(action: Callable[[], R], *, message: str | None = None) -> R | None:
    """`call` under a spinner: for reading what a page shows (a refusal is shown, None returned)."""
    with st.spinner(message or i18n.t("common.loading")):
        return call(action)


def fixed(name: Callable[[Any], str], options) -> Callable[[Any], str]:
    """A widget's `format_func` with its labels made now, in the language of this run: Streamlit (and AppTest)
    may format an option outside the page's run, where the language is not known. A typed-in option shows
    as typed."""
    labels = {option: name(option) for option in options}
    return lambda option: labels.get(option, str(option))


USAGE_FIGURES = ("completions", "failed_calls", "users", "input_tokens", "output_tokens")


def catalogue_usage(kind: str, id_: str, *, cost: bool) -> None:
    """A model's or a role's usage so far (`kind` "models" or "roles"): calls, users, tokens, and the cost if
    `cost`, from the published warehouse as of its publication (marts.mart_catalogue_usage: one query for
    every model or role, cached per publication), not counted over every call of the API's database at each
    view (issue 17). Zeros for one without calls; a note before the first publication."""
    from warehouse.as_of import as_of
    from warehouse.queries import ServingNotReady

    now = as_of()
    try:
        frame = analytics(now.stamp, staff().role, "catalogue_usage", None, None, kind=kind)
    except ServingNotReady:
        st.info(i18n.t("common.not_published"), icon=":material/hourglass_empty:")
        return
    found = frame[frame["id"] == id_]
    row = found.iloc[0] if not found.empty else None
    values = [(i18n.t(f"common.{k}"), i18n.number(int(row[k]) if row is not None else 0))
              for k in USAGE_FIGURES]  # fmt: skip
    if cost:
        values.append((i18n.t("common.cost_usd"), i18n.amount(row["cost_usd"] if row is not None else 0)))
    metrics(values)
    _as_of_caption(now.published_at)


# Click-through: a table's user, model, role or call opens that page with it chosen (`?user=`, `?model=`,
# `?role=`, `?call=`). A click selects the cell and switches page in the same session (a link to a new tab
# would start a session with nobody signed in); the pages honour the same parameters in the address.
LINKS = {"user": "users", "model": "models", "role": "roles", "call": "requests"}


def linked_table(
    frame: pd.DataFrame,
    key: str,
    links: dict[str, tuple[str, str]],
    *,
    name: str | None = None,
    empty: str | None = None,
    **options,
) -> pd.DataFrame:
    """`table`, where a click on a cell of a column in `links` ({column: (kind, value column)}, kind a key of
    LINKS) opens that kind's page with the row's value chosen."""
    shown = frame.drop(columns=list({v for _, v in links.values()} - set(links)))  # ids behind the links
    if shown.empty:
        return table(shown, name or key, empty=empty)
    event = st.dataframe(
        shown, hide_index=True, width="stretch", key=key, on_select="rerun", selection_mode="single-cell",
        **options,
    )  # fmt: skip
    st.caption(i18n.t("ui.click_through"))
    export_buttons(shown, name or key)
    target = link_target(event.selection.cells if event else [], frame, links)
    if target is not None:
        st.switch_page(f"app_pages/{LINKS[target[0]]}.py", query_params={target[0]: target[1]})
    return frame


def link_target(
    cells: list[tuple[int, str]], frame: pd.DataFrame, links: dict[str, tuple[str, str]]
) -> tuple[str, str] | None:
    """The (kind, value) a selected cell links to, or None (no cell, a column without a link, no value)."""
    if not cells:
        return None
    row, column = cells[0]
    if column not in links or not 0 <= row < len(frame):
        return None
    kind, source = links[column]
    value = frame.iloc[row][source]
    return None if value is None or pd.isna(value) or value == "" else (kind, str(value))


def from_link(kind: str) -> str | None:
    """The value the address names (`?<kind>=`) when it is new to this session, else None: a page opened by a
    click-through shows that one, and the staff member may then choose another."""
    value = st.query_params.get(kind)
    seen = f"ui:link:{kind}"
    if value is None or st.session_state.get(seen) == value:
        return None
    st.session_state[seen] = value
    return value


def chosen_from_link(kind: str, widget_key: str, options=None) -> None:
    """Choose the address's `?<kind>=` in the widget `widget_key` (if it is one of `options`, when given)."""
    value = from_link(kind)
    if value is not None and (options is None or value in list(options)):
        st.session_state[widget_key] = value

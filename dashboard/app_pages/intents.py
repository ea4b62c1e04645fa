"""Intents: what the users ask about (decision 0055). The pipeline groups the requests stored in chats into
topics named by their top terms; this page shows the period's top topics, their trend by day and a few
example requests of each. Topics are found again at every refresh, so a topic's number holds for one
publication only: its name says what it is."""

from __future__ import annotations

import streamlit as st

from dashboard import i18n, ui
from warehouse.queries import ServingNotReady

load = ui.analytics
TOP = 50  # every topic (the pipeline makes at most AIADMIN_INTENTS_MAX_TOPICS)
TRENDS = 5  # the topics drawn in the trend chart
ALL = ""  # no role or model picked: all of them


role = ui.staff().role
st.title(i18n.t("intents.title"))
published = ui.data_as_of()
st.caption(i18n.t("intents.help"))
left, middle, right = st.columns([2, 1, 1])
with left:
    start, end = ui.period("intents:period", days=30)
stamp = f"{start:%Y%m%d}_{end:%Y%m%d}"

try:
    with st.spinner(i18n.t("common.loading")):
        dimensions = load(published, role, "intent_dimensions", start, end)
except ServingNotReady:
    st.info(i18n.t("common.not_published"), icon=":material/hourglass_empty:")
    st.stop()


def narrowed(column: str, label: str, where) -> str | None:
    """A role or a model to narrow the intents to (None: all of them)."""
    options = [ALL, *dict.fromkeys(dimensions[column])]
    with where:
        picked = st.selectbox(
            label,
            options,
            format_func=ui.fixed(lambda o: i18n.t("intents.all") if o == ALL else o, options),
            key=f"intents:{column}:{i18n.current()}",
        )
    return None if picked == ALL else picked


role_id = narrowed("role_id", i18n.t("intents.role"), middle)
model_id = narrowed("model_id", i18n.t("intents.model"), right)
top = load(published, role, "intents", start, end, role_id=role_id, model_id=model_id, limit=TOP)
if top.empty:
    st.info(i18n.t("intents.none"), icon=":material/topic:")
    st.stop()

ui.metrics(
    [
        (i18n.t("intents.requests"), i18n.number(int(top["requests"].sum()))),
        (i18n.t("intents.topics"), i18n.number(len(top))),
    ]
)

st.subheader(i18n.t("intents.top"))
ui.chart(top.head(10), "topic_name", ["requests"], kind="bar", horizontal=True)
ui.table(top, f"intents_{stamp}")

st.subheader(i18n.t("intents.trend"))
leading = [int(t) for t in top["topic_id"].head(TRENDS)]
daily = load(
    published, role, "intents_daily", start, end, topic_ids=leading, role_id=role_id, model_id=model_id
)
ui.chart(daily, "day", ["requests"], by="topic_name")
ui.table(daily, f"intents_by_day_{stamp}")

st.subheader(i18n.t("intents.examples"))
examples = load(published, role, "intent_examples", None, None, topic_ids=[int(t) for t in top["topic_id"]])
for topic in top.itertuples():
    label = i18n.t(
        "intents.topic", id=topic.topic_id, name=topic.topic_name, requests=i18n.number(topic.requests)
    )
    with st.expander(label, expanded=topic.Index == 0):
        for snippet in examples.loc[examples["topic_id"] == topic.topic_id, "snippet"]:
            st.text(snippet)

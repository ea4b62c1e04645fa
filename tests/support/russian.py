"""What a page shown in Russian must not leave in English (decision 0039): a label, a placeholder, a table
header, a chart's axis or legend title with Latin letters and no Cyrillic ones, or a snake_case name."""

from __future__ import annotations

import json
import re

from streamlit.testing.v1 import AppTest

from dashboard import i18n

WIDGETS = ("button", "download_button", "text_input", "text_area", "number_input", "selectbox", "multiselect",
           "toggle", "metric", "tab", "expander", "date_input")  # fmt: skip
NEUTRAL = {"ID", "IP", "DAU", "WAU", "MAU", "CSV", "XLSX", "UTC"}  # the same in both languages
SNAKE = re.compile(r"[a-z0-9]+(_[a-z0-9]+)+")


def _english(text: str) -> bool:
    latin, cyrillic = re.search("[A-Za-z]", text), re.search("[\u0400-\u04ff]", text)
    return text not in NEUTRAL and bool(latin) and not cyrillic


def english_placeholders() -> set[str]:
    """The catalogue's English texts that differ in Russian: one of them as a placeholder is untranslated
    (an example value such as `{"temperature": 0.7}` or a URL is the same in both and is not)."""
    english, russian = i18n.catalogue("en"), i18n.catalogue("ru")
    return {text for key, text in english.items() if russian[key] != text}


def chart_titles(app: AppTest) -> list[str]:
    """The axis and legend titles of every chart (Vega-Lite), and the fields shown where a title is unset."""
    titles = []
    for chart in app.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        for channel, encoding in (spec.get("encoding") or {}).items():
            if channel in ("x", "y", "color") and isinstance(encoding, dict):
                title = encoding.get("title", encoding.get("field"))
                titles += [str(title)] if title is not None else []
    return titles


def untranslated(app: AppTest) -> list[str]:
    """Every label, placeholder, table header (and index name) and chart title of `app` left in English or
    snake_case."""
    elements = [element for kind in WIDGETS for element in app.get(kind)]
    labels = [element.label for element in elements]
    placeholders = [getattr(element.proto, "placeholder", "") for element in elements]
    frames = [frame.value for frame in app.dataframe]
    headers = [str(c) for frame in frames for c in (*frame.columns, *frame.index.names) if c is not None]
    shown = [*labels, *headers, *chart_titles(app)]
    left = [text for text in shown if _english(text) or SNAKE.fullmatch(text)]
    english = english_placeholders()
    left += [f"placeholder: {text}" for text in placeholders if text in english]
    # An empty choice without a placeholder shows Streamlit's own, English one ("Choose an option").
    empty = [*app.multiselect, *(box for box in app.selectbox if not box.proto.HasField("default"))]
    return left + [f"Streamlit's placeholder: {x.label}" for x in empty if not x.proto.placeholder.strip()]


def charts_in_russian(app: AppTest) -> bool:
    """Whether every chart formats its numbers and dates the Russian way (its `config.locale`)."""
    specs = [json.loads(chart.proto.spec) for chart in app.get("vega_lite_chart")]
    locales = [spec.get("config", {}).get("locale", {}) for spec in specs]
    return all(locale.get("number", {}).get("decimal") == "," for locale in locales)

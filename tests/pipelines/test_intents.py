"""Intents (decision 0055): the topics of a fixed bilingual corpus with known topics, tiny corpora, the
setting that turns it off, and the empty marts of a world without chats. The whole path (chats in the
database, the pipeline, the marts, the panel's page) is tests/dashboard/test_pages_intents.py."""

from __future__ import annotations

from collections import Counter

import duckdb

from pipelines.intents import SNIPPET_CHARS, IntentsSettings, find_topics, refresh_intents
from pipelines.resources import OltpResource, WarehouseResource
from tests.support.intents import CORPUS, store_in_chats
from tests.support.world import published_copy
from warehouse import queries
from warehouse.settings import WarehouseSettings

# Words one of which names each known topic's main cluster (in either language).
EXPECTED = {"cooking": {"recipe", "рецепт"}, "python": {"python"}, "travel": {"ticket", "билеты", "flight"}}


def _labelled() -> list[tuple[str, str, str]]:
    return [
        (topic, language, text)
        for topic, by in CORPUS.items()
        for language, texts in by.items()
        for text in texts
    ]


def test_the_corpus_requests_of_a_known_topic_are_grouped_together_and_named_by_its_terms():
    items = _labelled()
    found = find_topics([text for *_, text in items], max_topics=12)

    assert len(found.labels) == len(items) and 3 <= len(found.names) <= 12
    # Purity: each found topic holds mostly one known topic.
    members: dict[int, Counter] = {}
    for (topic, _, _), label in zip(items, found.labels, strict=True):
        members.setdefault(label, Counter())[topic] += 1
    majority = sum(max(known.values()) for known in members.values())
    assert majority / len(items) >= 0.8
    # Each known topic, in each language, has a found topic holding at least half its requests, named by
    # one of its words.
    for topic, words in EXPECTED.items():
        for language in ("en", "ru"):
            labels = Counter(
                label
                for (t, lang, _), label in zip(items, found.labels, strict=True)
                if (t, lang) == (topic, language)
            )
            label, count = labels.most_common(1)[0]
            assert count >= 5, (topic, language, labels)
            assert set(found.terms[label]) & words, (topic, language, found.names[label])
    # Numbered by size, named by up to four terms, with up to five short distinct examples each.
    sizes = Counter(found.labels)
    assert [sizes[i] for i in range(len(found.names))] == sorted(sizes.values(), reverse=True)
    assert all(1 <= len(terms) <= 4 for terms in found.terms)
    assert all(1 <= len(ex) <= 5 and len(set(ex)) == len(ex) for ex in found.examples)
    # Deterministic: the same requests make the same topics.
    assert find_topics([text for *_, text in items], max_topics=12) == found


def test_tiny_corpora_make_no_topic_or_one():
    assert find_topics([]).labels == [] and find_topics([]).names == []
    one = find_topics(["How do I bake bread?"])
    assert one.labels == [0] and one.names == ["bake, bread"] and one.examples == [["How do I bake bread?"]]
    two = find_topics(["bake bread", "python code"])
    assert two.labels == [0, 0] and len(two.names) == 1
    same = find_topics(["python code"] * 4)
    assert same.labels == [0] * 4 and same.examples == [["python code"]]
    nothing = find_topics(["the and", "и в", "42"])  # stop words and numbers only: no term at all
    assert (
        nothing.labels == [0, 0, 0]
        and nothing.names == [""]
        and nothing.examples == [["the and", "и в", "42"]]
    )
    blank = find_topics(["", "  ", "?"])
    assert blank.labels == [0, 0, 0] and blank.examples == [["?"]]
    long = find_topics(["recipe " * 500])
    assert len(long.examples[0][0]) == SNIPPET_CHARS and long.examples[0][0].endswith("…")
    assert find_topics(["a b", "c d", "e f"], max_topics=0).labels == [0, 0, 0]


def _raw(warehouse_settings) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse_settings.warehouse_path), read_only=True) as con:
        return {
            name: con.execute(f"SELECT * FROM raw.{name}").fetchall()
            for name in ("intent_requests", "intent_topics", "intent_examples")
        }


def test_only_end_users_recent_requests_are_read_and_the_setting_off_writes_empty_tables(
    settings, warehouse_settings, monkeypatch
):
    oltp = OltpResource(database_url=settings.database_url)
    warehouse = WarehouseResource(
        warehouse_path=str(warehouse_settings.warehouse_path),
        serving_path=str(warehouse_settings.serving_path),
    )
    store_in_chats(settings, ["Recipe for pancakes", "Pancakes recipe with milk"])
    store_in_chats(settings, ["Staff testing the python recipe"], staff=True)  # staff never count as users
    store_in_chats(settings, ["An old recipe for bread"], days_ago=40)  # outside the default 30 days
    store_in_chats(settings, ["A deleted user's recipe"], deleted=True)  # a tombstone (decision 0047)

    assert refresh_intents(oltp, warehouse) == {
        "intent_requests": 2,
        "intent_topics": 1,
        "intent_examples": 2,
    }
    raw = _raw(warehouse_settings)
    assert [row[2:] for row in raw["intent_requests"]] == [("chat", "mock-small", 1)] * 2
    assert set(raw["intent_topics"][0][2]) >= {"pancakes", "recipe"}
    # Only topics and snippets reach the warehouse: no column holds a whole message.
    with duckdb.connect(str(warehouse_settings.warehouse_path), read_only=True) as con:
        found = con.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = 'raw'").fetchall()
    columns = {name for (name,) in found}
    assert {"snippet", "topic_name"} <= columns and not {"content", "text"} & columns
    assert refresh_intents(oltp, warehouse, IntentsSettings(days=60, max_requests=2))["intent_requests"] == 2

    monkeypatch.setenv("AIADMIN_INTENTS_ENABLED", "false")
    assert refresh_intents(oltp, warehouse) == {
        "intent_requests": 0,
        "intent_topics": 0,
        "intent_examples": 0,
    }
    assert _raw(warehouse_settings) == {"intent_requests": [], "intent_topics": [], "intent_examples": []}


def test_a_world_without_chats_publishes_the_intents_marts_empty(published_template, tmp_path):
    settings = published_copy(published_template, tmp_path / "world")
    serving = WarehouseSettings(data_dir=settings.data_dir).serving_path
    top = queries.intents(path=serving)
    assert top.empty and list(top.columns) == ["topic_id", "topic_name", "requests", "share"]
    assert queries.intents_daily(path=serving).empty
    assert queries.intent_examples(path=serving).empty

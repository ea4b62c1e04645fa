"""Intents: what users ask about, as topics found in the requests stored in chats (decision 0055).

The asset reads the users' messages (`messages.role = 'user'`) of end users' chats straight from the OLTP
database, bounded (the last `AIADMIN_INTENTS_DAYS` days, at most `AIADMIN_INTENTS_MAX_REQUESTS`, the newest),
groups them into topics offline (TF-IDF and k-means from scikit-learn, nothing downloaded, a fixed seed) and
writes into DuckDB only what the marts need: each request's topic with its day, role and model, each topic's
name (its top terms), and a few short example snippets. The texts themselves never reach the warehouse:
the raw tables are replaced whole on every run, so a deleted chat leaves them at the next one.

Russian and English alike: words are runs of Unicode letters and digits (`\\w`, Cyrillic included),
lowercased, without the stop words of either language, cut to their first `STEM` characters so that
a word's forms count as one term ("рецепт", "рецепта", "рецепты"; "ticket", "tickets"); a topic is named by
its top terms, each shown as the form of it its requests use most.
"""

import functools
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import and_, select

from api.accounts.models import Account
from api.chats.models import Chat, Message
from pipelines.resources import OltpResource, WarehouseResource

# The three raw tables the asset writes (dbt sources `raw.intent_*`).
TABLES = ("intent_requests", "intent_topics", "intent_examples")

# Common Russian function words (scikit-learn's English list is used for English).
RUSSIAN_STOP_WORDS = frozenset(
    """
    а без более бы был была были было быть в вам вас ваш вот все всё всего вы где да даже для до его её ее
    если есть ещё еще же за здесь и из или им их к как какой какая какие когда кто ли либо мне может можно
    мой мы на над надо наш не него нее неё нет ни них но ну о об однако он она они оно от очень по под
    после при про с со так также такой там те тебе то того тоже только том ты у уже хочу чем что чтобы
    эта эти это этот я мне меня пожалуйста помоги помогите подскажи подскажите скажи расскажи нужно нужен
    нужна нужны сделать сколько какие каким лучше можно ли
    """.split()
)
EXTRA_STOP_WORDS = frozenset({"please", "help", "need", "want"})
WORD = re.compile(r"\w+", re.UNICODE)
STEM = 5  # a word's first letters that make its term (a crude stemmer that needs no data)
TERMS_IN_NAME = 4
EXAMPLES = 5
SNIPPET_CHARS = 200
TEXT_CHARS = 2000  # of a long request, only its beginning is read (and vectorised)
SEED = 0
SILHOUETTE_SAMPLE = 2000


class IntentsSettings(BaseSettings):
    """`AIADMIN_INTENTS_*`: read when the asset runs (like the database URL), never shown in Dagster's UI."""

    model_config = SettingsConfigDict(env_prefix="AIADMIN_INTENTS_", env_file=".env", extra="ignore")

    enabled: bool = True
    days: int = 30
    max_requests: int = 20_000
    max_topics: int = 12


@functools.cache
def stop_words() -> frozenset[str]:
    """scikit-learn's English stop words and the Russian ones above. scikit-learn is imported when the asset
    runs, not when the definitions load (it takes seconds, in every process that loads them)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | RUSSIAN_STOP_WORDS | EXTRA_STOP_WORDS


def _words(text: str) -> list[str]:
    stop = stop_words()
    return [w for w in WORD.findall(text.lower()) if len(w) > 1 and not w.isdigit() and w not in stop]


def _terms(text: str) -> list[str]:
    return [w[:STEM] for w in _words(text)]


@dataclass
class Topics:
    """Each request's topic (0-based, topics ordered by size), each topic's name and terms, its examples."""

    labels: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    terms: list[list[str]] = field(default_factory=list)
    examples: list[list[str]] = field(default_factory=list)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "…"


def _choose_k(matrix, distinct: int, max_topics: int) -> tuple[int, np.ndarray]:
    """The number of topics with the best silhouette (cosine) among 2..max_topics, and its labels.

    Fewer than three distinct requests, or a single candidate, make one topic. Deterministic: a fixed seed
    and, above `SILHOUETTE_SAMPLE` requests, a fixed sample for the score."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = matrix.shape[0]
    high = min(max_topics, distinct - 1, n - 1)
    if high < 2:
        return 1, np.zeros(n, dtype=int)
    best: tuple[float, int, np.ndarray] | None = None
    for k in range(2, high + 1):
        labels = KMeans(n_clusters=k, n_init=3, random_state=SEED).fit_predict(matrix)
        if len(set(labels)) < 2:
            continue
        score = silhouette_score(
            matrix, labels, metric="cosine", sample_size=min(n, SILHOUETTE_SAMPLE), random_state=SEED
        )
        if best is None or score > best[0] + 1e-9:
            best = (score, k, labels)
    if best is None:
        return 1, np.zeros(n, dtype=int)
    return best[1], best[2]


def find_topics(texts: list[str], max_topics: int = 12) -> Topics:
    """Group the texts into topics; handles no text, one, and texts with no word left (one topic, unnamed)."""
    if not texts:
        return Topics()
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [t[:TEXT_CHARS] for t in texts]
    vectorizer = TfidfVectorizer(analyzer=_terms, sublinear_tf=True, dtype=np.float64)
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # no term at all (only stop words, digits, punctuation)
        examples = [snippet for snippet in dict.fromkeys(map(_snippet, texts)) if snippet][:EXAMPLES]
        return Topics([0] * len(texts), [""], [[]], [examples])
    distinct = len({" ".join(sorted(set(_terms(t)))) for t in texts})
    k, labels = _choose_k(matrix, distinct, max(1, max_topics))
    vocabulary = vectorizer.get_feature_names_out()
    # The commonest surface form of each term, to name topics by words rather than stems.
    forms: dict[str, Counter] = defaultdict(Counter)
    for text in texts:
        for word in _words(text):
            forms[word[:STEM]][word] += 1
    sizes = Counter(labels.tolist())
    order = sorted(range(k), key=lambda c: (-sizes.get(c, 0), c))
    renumber = {old: new for new, old in enumerate(order) if sizes.get(old, 0)}
    topics = Topics(labels=[renumber[c] for c in labels.tolist()])
    for old in order:
        if old not in renumber:
            continue
        members = np.flatnonzero(labels == old)
        centroid = np.asarray(matrix[members].mean(axis=0)).ravel()
        top = [i for i in np.argsort(-centroid, kind="stable")[:TERMS_IN_NAME] if centroid[i] > 0]
        words = [min(forms[vocabulary[i]].items(), key=lambda f: (-f[1], f[0]))[0] for i in top]
        topics.terms.append(words)
        topics.names.append(", ".join(words))
        # Examples: the requests nearest the topic's centre, each text once.
        closeness = np.asarray(matrix[members] @ centroid).ravel()
        seen: list[str] = []
        for i in members[np.argsort(-closeness, kind="stable")]:
            snippet = _snippet(texts[i])
            if snippet and snippet not in seen:
                seen.append(snippet)
            if len(seen) == EXAMPLES:
                break
        topics.examples.append(seen)
    return topics


def read_requests(oltp: OltpResource, settings: IntentsSettings, now: datetime | None = None) -> list[tuple]:
    """(message id, created at, role id, model id, text) of the end users' requests in chats, newest first
    (not of staff, nor of deleted accounts).

    The model is that of the assistant's answer to the request (the next assistant message of the chat;
    none when the call failed); the role is the chat's (that of its first call)."""
    since = (now or datetime.now(UTC)) - timedelta(days=settings.days)
    answer = Message.__table__.alias("answer")
    model = (
        select(answer.c.model_id)
        .where(
            and_(answer.c.chat_id == Message.chat_id, answer.c.role == "assistant", answer.c.id > Message.id)
        )
        .order_by(answer.c.id)
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(Message.id, Message.created_at, Chat.role_id, model, Message.content)
        .join(Chat, Chat.id == Message.chat_id)
        .join(Account, Account.id == Chat.account_id)
        .where(
            Message.role == "user",
            Message.created_at >= since,
            Account.role == "user",  # staff never count as users
            Account.deleted_at.is_(None),  # a tombstone's words are not read (decision 0047)
        )
        .order_by(Message.id.desc())
        .limit(max(0, settings.max_requests))
    )
    engine = oltp.engine()
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]
    finally:
        engine.dispose()


def _day(value: datetime):
    return (value.astimezone(UTC) if value.tzinfo else value).date()


def intent_tables(requests: list[tuple], max_topics: int) -> dict[str, pa.Table]:
    """The three raw tables for these requests (oldest first, so the clustering sees a stable order)."""
    requests = sorted(requests, key=lambda r: r[0])
    topics = find_topics([r[4] or "" for r in requests], max_topics)
    counts = Counter(topics.labels)
    return {
        "intent_requests": pa.table(
            {
                "message_id": pa.array([r[0] for r in requests], pa.int64()),
                "day": pa.array([_day(r[1]) for r in requests], pa.date32()),
                "role_id": pa.array([r[2] for r in requests], pa.string()),
                "model_id": pa.array([r[3] for r in requests], pa.string()),
                "topic_id": pa.array([t + 1 for t in topics.labels], pa.int32()),
            }
        ),
        "intent_topics": pa.table(
            {
                "topic_id": pa.array(range(1, len(topics.names) + 1), pa.int32()),
                "topic_name": pa.array(topics.names, pa.string()),
                "terms": pa.array(topics.terms, pa.list_(pa.string())),
                "requests": pa.array([counts[t] for t in range(len(topics.names))], pa.int64()),
            }
        ),
        "intent_examples": pa.table(
            {
                "topic_id": pa.array([t + 1 for t, ex in enumerate(topics.examples) for _ in ex], pa.int32()),
                "example_rank": pa.array(
                    [i + 1 for ex in topics.examples for i in range(len(ex))], pa.int32()
                ),
                "snippet": pa.array([s for ex in topics.examples for s in ex], pa.string()),
            }
        ),
    }


def write_intents(warehouse: WarehouseResource, tables: dict[str, pa.Table]) -> None:
    """Replace the raw intent tables (in one DuckDB transaction)."""
    with warehouse.writer() as duck:
        duck.execute("CREATE SCHEMA IF NOT EXISTS raw; BEGIN TRANSACTION")
        for name, frame in tables.items():
            duck.register("frame", frame)
            duck.execute(f'CREATE OR REPLACE TABLE raw."{name}" AS SELECT * FROM frame')  # noqa: S608
            duck.unregister("frame")
        duck.execute("COMMIT")


def refresh_intents(
    oltp: OltpResource, warehouse: WarehouseResource, settings: IntentsSettings | None = None
) -> dict[str, int]:
    """Read, group and write; turned off, the tables are written empty (the marts exist, with no rows)."""
    settings = settings or IntentsSettings()
    requests = read_requests(oltp, settings) if settings.enabled else []
    tables = intent_tables(requests, settings.max_topics)
    write_intents(warehouse, tables)
    return {name: table.num_rows for name, table in tables.items()}


@multi_asset(
    specs=[
        AssetSpec(
            AssetKey(["raw", name]),
            group_name="extract",
            description="Topics of the users' requests stored in chats (no message text beyond short "
            "examples; decision 0055). AIADMIN_INTENTS_ENABLED=false writes them empty.",
            kinds={"python", "scikit-learn", "duckdb"},
        )
        for name in TABLES
    ]
)
def raw_intents(context: AssetExecutionContext, oltp: OltpResource, warehouse: WarehouseResource):
    settings = IntentsSettings()
    started = datetime.now(UTC)
    counts = refresh_intents(oltp, warehouse, settings)
    seconds = (datetime.now(UTC) - started).total_seconds()
    state = "on" if settings.enabled else "off (AIADMIN_INTENTS_ENABLED=false)"
    context.log.info(f"intents {state}: {counts} in {seconds:.2f} s")
    for name in TABLES:
        yield MaterializeResult(
            asset_key=AssetKey(["raw", name]),
            metadata={
                "rows": MetadataValue.int(counts[name]),
                "enabled": MetadataValue.bool(settings.enabled),
            },
        )

"""The analytics queries that the panel and the analytics API share, on the serving copy only.

Each takes a date range (UTC days, both ends included; None: unbounded; `catalogue_usage` and
`intent_examples` are of the whole publication) and
returns a DataFrame whose columns are the API's and the CSV's. Periods: `day`, `week` (Monday) or `month`,
labelled by their first calendar day; a week or month that the range cuts counts only its days inside the
range, on every endpoint (decision 0042). Series have a row for every day of the warehouse's day spine
(first to last event, decision 0011) inside the range: a day without activity is a row of zeros. Latency
percentiles: nearest rank over successful calls, on 5% buckets, the same as mart_latency_daily (decision
0042).
"""

from __future__ import annotations

import threading
from datetime import UTC, date
from pathlib import Path
from typing import Literal

import duckdb
import pandas as pd

from warehouse.settings import get_warehouse_settings

Grain = Literal["day", "week", "month"]
TopKind = Literal["users", "models", "roles", "providers", "countries"]
TopMetric = Literal["cost", "calls", "tokens", "credits"]
CostDimension = Literal["model", "provider", "role", "plan", "country"]
CatalogueKind = Literal["models", "roles"]
FeedbackDimension = Literal["model", "role", "role_version", "provider", "plan"]
GRAINS = ("day", "week", "month")


class ServingNotReady(Exception):
    """No serving copy has been published yet: run the pipeline first."""


_OPEN: dict[str, tuple[tuple[int, int], duckdb.DuckDBPyConnection]] = {}
_OPEN_LOCK = threading.Lock()


def serving_version(path: Path | None = None) -> tuple[int, int] | None:
    """Which publication the serving copy is (None: none yet): each publish renames a new file over the
    path, so its inode and modification time change; one `stat`, no DuckDB."""
    try:
        stat = (path or get_warehouse_settings().serving_path).stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns)


def connect_serving(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only cursor on the published copy, as it is now; it never takes a write lock.

    One private DuckDB instance per published file (in memory, the file ATTACHed read-only) serves every
    thread of the process through its own cursor. When a publish has renamed a new file over the path,
    the next call opens that one; cursors already open keep reading the file they started with.
    (`duckdb.connect(path)` would share one instance per path within the process, and a new connection
    would keep seeing the old file for as long as any connection to it stayed open.)
    """
    path = path or get_warehouse_settings().serving_path
    version = serving_version(path)
    if version is None:
        raise ServingNotReady(f"no published warehouse at {path}: run `aiadmin pipeline run`")
    with _OPEN_LOCK:
        opened = _OPEN.get(str(path))
        if opened is None or opened[0] != version:
            instance = duckdb.connect()
            instance.execute("ATTACH ? AS serving (READ_ONLY)", [str(path)])
            opened = _OPEN[str(path)] = (version, instance)  # the old instance closes with its last cursor
        cursor = opened[1].cursor()
    cursor.execute("USE serving")  # per cursor: each has its own default catalog
    return cursor


def _query(sql: str, params: list, path: Path | None) -> pd.DataFrame:
    with connect_serving(path) as con:
        return con.execute(sql, params).df()


# The SQL below is put together from fixed fragments only (columns, grains and measures picked from the
# tables in this module); every value is a bound parameter.


def _range(column: str) -> str:
    """`column` within [start, end], either end open when None (two parameters)."""
    return (
        f"{column} BETWEEN coalesce(CAST(? AS DATE), DATE '0001-01-01') "
        "AND coalesce(CAST(? AS DATE), DATE '9999-12-31')"
    )


def _range_params(start: date | None, end: date | None) -> list:
    return [start, end]


def _check_grain(grain: str) -> str:
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {GRAINS}")
    return grain


def daily_usage(
    start: date | None = None, end: date | None = None, *, path: Path | None = None
) -> pd.DataFrame:
    """One row per UTC day: active users, completions and tokens in and out."""
    return _query(
        "SELECT day, active_users, completions, input_tokens, output_tokens FROM marts.daily_usage "
        f"WHERE {_range('day')} ORDER BY day",
        _range_params(start, end),
        path,
    )


def active_users(
    start: date | None = None, end: date | None = None, grain: Grain = "day", *, path: Path | None = None
) -> pd.DataFrame:
    """Per day: DAU, rolling WAU (7 days) and MAU (30 days), stickiness, new users. Per calendar week or
    month: the distinct users active on its days inside the range, and the users who registered on them."""
    if _check_grain(grain) == "day":
        return _query(
            "SELECT day AS period_start, dau, wau, mau, stickiness, new_users "
            f"FROM marts.mart_active_users_daily WHERE {_range('day')} ORDER BY day",
            _range_params(start, end),
            path,
        )
    # A period wholly inside the range is read from its mart; only the one or two the range cuts are
    # counted from the user days (the slow part: a distinct count over every active user-day).
    period_end = f"date_trunc('{grain}', {{day}}) + INTERVAL 1 {grain} - INTERVAL 1 day"
    cut = (
        f"(date_trunc('{grain}', day) < coalesce(CAST(? AS DATE), DATE '0001-01-01') "
        f"OR {period_end.format(day='day')} > coalesce(CAST(? AS DATE), DATE '9999-12-31'))"
    )
    return _query(
        f"""
        WITH actives AS (
            SELECT period_start, active_users FROM marts.mart_active_users_periods
            WHERE period = ? AND period_start >= coalesce(CAST(? AS DATE), DATE '0001-01-01')
              AND {period_end.format(day="period_start")} <= coalesce(CAST(? AS DATE), DATE '9999-12-31')
            UNION ALL
            SELECT date_trunc('{grain}', day), count(DISTINCT user_id)
            FROM marts.fct_user_days WHERE {_range("day")} AND {cut} GROUP BY 1
        )
        SELECT CAST(date_trunc('{grain}', spine.day) AS DATE) AS period_start,
               coalesce(any_value(actives.active_users), 0)::BIGINT AS active_users,
               sum(spine.new_users)::BIGINT AS new_users
        FROM marts.mart_active_users_daily AS spine
        LEFT JOIN actives ON actives.period_start = date_trunc('{grain}', spine.day)
        WHERE {_range("spine.day")}
        GROUP BY 1 ORDER BY 1
        """,
        [grain, *_range_params(start, end), *_range_params(start, end), *_range_params(start, end),
         *_range_params(start, end)],
        path,
    )  # fmt: skip


def usage(
    start: date | None = None, end: date | None = None, grain: Grain = "day", *, path: Path | None = None
) -> pd.DataFrame:
    """Per period: calls, completions, failed calls, the error rate, tokens in and out, cost and credits;
    zeros for a period without calls (the error rate is then null)."""
    return _query(
        f"""
        WITH days AS (
            SELECT day, sum(calls) AS calls, sum(completions) AS completions,
                   sum(failed_calls) AS failed_calls, sum(input_tokens) AS input_tokens,
                   sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd, sum(credits) AS credits
            FROM marts.mart_usage_daily WHERE {_range("day")} GROUP BY day
        )
        SELECT CAST(date_trunc('{_check_grain(grain)}', spine.day) AS DATE) AS period_start,
               coalesce(sum(calls), 0)::BIGINT AS calls, coalesce(sum(completions), 0)::BIGINT AS completions,
               coalesce(sum(failed_calls), 0)::BIGINT AS failed_calls,
               round(sum(failed_calls) / nullif(sum(calls), 0), 4) AS error_rate,
               coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
               coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
               coalesce(sum(cost_usd), 0) AS cost_usd, coalesce(sum(credits), 0) AS credits
        FROM marts.mart_active_users_daily AS spine LEFT JOIN days USING (day)
        WHERE {_range("spine.day")}
        GROUP BY 1 ORDER BY 1
        """,
        [*_range_params(start, end), *_range_params(start, end)],
        path,
    )


_COST_COLUMNS = {"model": "model_id", "provider": "provider", "role": "role_id", "plan": "plan",
                 "country": "country_code"}  # fmt: skip


def costs(
    start: date | None = None,
    end: date | None = None,
    by: CostDimension = "model",
    *,
    path: Path | None = None,
) -> pd.DataFrame:
    """Cost (USD) and credits in the range by model, provider, assistant role, plan or country."""
    if by not in _COST_COLUMNS:
        raise ValueError(f"by must be one of {tuple(_COST_COLUMNS)}")
    column = _COST_COLUMNS[by]
    return _query(
        f"""
        SELECT {column} AS {by}, sum(calls)::BIGINT AS calls, sum(input_tokens)::BIGINT AS input_tokens,
               sum(output_tokens)::BIGINT AS output_tokens, sum(cost_usd) AS cost_usd, sum(credits) AS credits
        FROM marts.mart_usage_daily WHERE {_range("day")}
        GROUP BY 1 ORDER BY cost_usd DESC, 1
        """,
        _range_params(start, end),
        path,
    )


_TOP_ORDER = {  # {t} is the table's alias, if any
    "cost": "{t}cost_usd",
    "calls": "{t}calls",
    "tokens": "{t}input_tokens + {t}output_tokens",
    "credits": "{t}credits",
}
_TOP_KEY = {"models": "model_id", "roles": "role_id", "providers": "provider", "countries": "country_code"}


def top(
    kind: TopKind,
    start: date | None = None,
    end: date | None = None,
    metric: TopMetric = "cost",
    limit: int = 10,
    *,
    path: Path | None = None,
) -> pd.DataFrame:
    """The top `limit` end users (with their email), models, roles, providers or countries in the range,
    by cost, calls, tokens or credits; ties broken by name. A row whose measure is zero is not in the top
    (a user who only signed in, a model that cost nothing): fewer rows rather than padding."""
    if metric not in _TOP_ORDER or not 1 <= limit <= 1000:
        raise ValueError("metric must be cost, calls, tokens or credits; limit 1..1000")
    if kind == "users":
        if start is None and end is None:  # all time: the per-user totals are already summed
            totals = """
                SELECT user_id, completions + failed_calls AS calls, input_tokens, output_tokens, cost_usd,
                       credits
                FROM marts.mart_user_facts
                WHERE role = 'user' AND active_days > 0 AND ? IS NULL AND ? IS NULL
            """
        else:
            totals = f"""
                SELECT user_id, sum(completions + failed_calls)::BIGINT AS calls,
                       sum(input_tokens)::BIGINT AS input_tokens,
                       sum(output_tokens)::BIGINT AS output_tokens, sum(cost_usd) AS cost_usd,
                       sum(credits) AS credits
                FROM marts.fct_user_days WHERE {_range("day")} GROUP BY user_id
            """
        measure = _TOP_ORDER[metric]
        top_rows = (
            f"SELECT * FROM ({totals}) WHERE {measure.format(t='')} > 0 "
            f"ORDER BY {measure.format(t='')} DESC, user_id LIMIT ?"
        )
        return _query(  # the email and plan of the top users only
            "SELECT t.user_id, f.email, f.plan_code AS plan, t.calls, t.input_tokens, t.output_tokens, "
            f"t.cost_usd, t.credits FROM ({top_rows}) AS t LEFT JOIN marts.mart_user_facts AS f "
            f"USING (user_id) ORDER BY {measure.format(t='t.')} DESC, t.user_id",
            [*_range_params(start, end), limit],
            path,
        )
    if kind in _TOP_KEY:
        key = _TOP_KEY[kind]
        totals = f"""
            SELECT {key}, sum(calls)::BIGINT AS calls, sum(input_tokens)::BIGINT AS input_tokens,
                   sum(output_tokens)::BIGINT AS output_tokens, sum(cost_usd) AS cost_usd,
                   sum(credits) AS credits
            FROM marts.mart_usage_daily WHERE {_range("day")} GROUP BY 1
        """
    else:
        raise ValueError(f"kind must be users or one of {tuple(_TOP_KEY)}")
    return _query(
        f"SELECT * FROM ({totals}) WHERE {_TOP_ORDER[metric].format(t='')} > 0 "
        f"ORDER BY {_TOP_ORDER[metric].format(t='')} DESC, {key} LIMIT ?",
        [*_range_params(start, end), limit],
        path,
    )


def geography(
    start: date | None = None, end: date | None = None, *, path: Path | None = None
) -> pd.DataFrame:
    """Per country: distinct active end users, new users, calls, tokens, cost and credits in the range."""
    return _query(
        f"""
        WITH users AS (
            SELECT coalesce(country_code, '(unknown)') AS country_code,
                   count(DISTINCT user_id) AS active_users
            FROM marts.fct_user_days WHERE {_range("day")} GROUP BY 1
        ),
        activity AS (
            SELECT country_code, sum(new_users)::BIGINT AS new_users, sum(calls)::BIGINT AS calls,
                   sum(input_tokens)::BIGINT AS input_tokens, sum(output_tokens)::BIGINT AS output_tokens,
                   sum(cost_usd) AS cost_usd, sum(credits) AS credits
            FROM marts.mart_geography_daily WHERE {_range("day")} GROUP BY 1
        )
        SELECT country_code, coalesce(users.active_users, 0) AS active_users, activity.new_users,
               activity.calls, activity.input_tokens, activity.output_tokens, activity.cost_usd,
               activity.credits
        FROM activity LEFT JOIN users USING (country_code)
        ORDER BY active_users DESC, country_code
        """,
        [*_range_params(start, end), *_range_params(start, end)],
        path,
    )


def revenue(start: date | None = None, end: date | None = None, *, path: Path | None = None) -> pd.DataFrame:
    """Per UTC day and plan: top-ups, paying users, the money they paid (USD), the provider cost of the
    calls and the margin (revenue - cost), as in marts.mart_revenue_daily."""
    return _query(
        "SELECT day, plan, top_ups, paying_users, revenue_usd, provider_cost_usd, margin_usd, calls, "
        "credits_sold, credits_charged, top_ups_other_currency "
        f"FROM marts.mart_revenue_daily WHERE {_range('day')} ORDER BY day, plan",
        _range_params(start, end),
        path,
    )


def retention(
    start: date | None = None, end: date | None = None, *, path: Path | None = None
) -> pd.DataFrame:
    """Weekly cohorts registered in the range: % of each cohort active N weeks after registering."""
    return _query(
        "SELECT cohort_week, week_number, cohort_size, active_users, retention_pct "
        f"FROM marts.mart_retention_weekly WHERE {_range('cohort_week')} "
        "ORDER BY cohort_week, week_number",
        _range_params(start, end),
        path,
    )


def latency(start: date | None = None, end: date | None = None, *, path: Path | None = None) -> pd.DataFrame:
    """Per provider and model over the range: calls, errors, the error rate, and latency p50 and p95 in ms
    by the one definition (decision 0042, as mart_latency_daily): nearest rank over the successful calls,
    reported as the upper bound of the 5% bucket it falls in. Null without a successful call."""
    return _query(
        f"""
        WITH buckets AS (
            SELECT provider, model_id, bucket_upper_ms, sum(calls) AS calls
            FROM marts.mart_latency_histogram_daily WHERE {_range("day")} GROUP BY 1, 2, 3
        ),
        running AS (
            SELECT *,
                   sum(calls) OVER (PARTITION BY provider, model_id ORDER BY bucket_upper_ms) AS at_or_below,
                   sum(calls) OVER (PARTITION BY provider, model_id) AS measured
            FROM buckets
        ),
        percentiles AS (
            SELECT provider, model_id,
                   min(bucket_upper_ms) FILTER (WHERE at_or_below >= 0.5 * measured) AS latency_p50_ms,
                   min(bucket_upper_ms) FILTER (WHERE at_or_below >= 0.95 * measured) AS latency_p95_ms
            FROM running GROUP BY 1, 2
        ),
        outcomes AS (
            SELECT provider, model_id, sum(calls)::BIGINT AS calls, sum(errors)::BIGINT AS errors
            FROM marts.mart_latency_daily WHERE {_range("day")} GROUP BY 1, 2
        )
        SELECT outcomes.provider, outcomes.model_id, outcomes.calls, outcomes.errors,
               round(outcomes.errors / outcomes.calls, 4) AS error_rate,
               percentiles.latency_p50_ms, percentiles.latency_p95_ms
        FROM outcomes LEFT JOIN percentiles USING (provider, model_id)
        ORDER BY outcomes.calls DESC, 1, 2
        """,
        [*_range_params(start, end), *_range_params(start, end)],
        path,
    )


def catalogue_usage(kind: CatalogueKind, *, path: Path | None = None) -> pd.DataFrame:
    """Per model or assistant role (`id`) that an LLM call names, over every call so far (no date range: all
    time, up to the publication), as the admin API's `…/usage` counts it: completions, failed calls, tokens
    in and out, cost and distinct users of its calls (marts.mart_catalogue_usage)."""
    if kind not in ("models", "roles"):
        raise ValueError("kind must be models or roles")
    return _query(
        "SELECT id, completions, failed_calls, input_tokens, output_tokens, cost_usd, users "
        "FROM marts.mart_catalogue_usage WHERE kind = ? ORDER BY id",
        [kind.removesuffix("s")],
        path,
    )


# What feedback is grouped by: a role's version only means something with its role.
_FEEDBACK_COLUMNS = {"model": "model_id", "role": "role_id", "role_version": "role_id, role_version",
                     "provider": "provider", "plan": "plan"}  # fmt: skip


def feedback(
    start: date | None = None,
    end: date | None = None,
    by: FeedbackDimension = "model",
    *,
    path: Path | None = None,
) -> pd.DataFrame:
    """The completions scored by their callers in the range (each once, by its latest score, on the day it
    was given: marts.mart_feedback_daily, decision 0054) by model, assistant role, role and its version,
    provider or plan: scores, ratings up and down, numbers given and their mean, positive (up, or 4-5) and
    the share positive, most scored first."""
    if by not in _FEEDBACK_COLUMNS:
        raise ValueError(f"by must be one of {tuple(_FEEDBACK_COLUMNS)}")
    columns = _FEEDBACK_COLUMNS[by]
    return _query(
        f"""
        SELECT {columns}, sum(scores)::BIGINT AS scores, sum(ratings_up)::BIGINT AS ratings_up,
               sum(ratings_down)::BIGINT AS ratings_down, sum(values_count)::BIGINT AS values_count,
               round(sum(values_sum) / nullif(sum(values_count), 0), 2) AS value_avg,
               sum(positive)::BIGINT AS positive, round(sum(positive) / sum(scores), 4) AS share_positive
        FROM marts.mart_feedback_daily WHERE {_range("day")}
        GROUP BY ALL ORDER BY scores DESC, {columns}
        """,
        _range_params(start, end),
        path,
    )


def response_cache(
    start: date | None = None, end: date | None = None, *, path: Path | None = None
) -> dict[str, float | None]:
    """The response cache over [start, end] (marts.mart_response_cache_daily, decision 0057): hits, misses,
    the hit ratio (None without a cached call) and the provider cost the hits saved (USD). A serving copy
    published before the mart existed has none: nothing cached, as far as it knows."""
    sql = f"""
        SELECT coalesce(sum(hits), 0)::BIGINT AS hits, coalesce(sum(misses), 0)::BIGINT AS misses,
               sum(hits) / nullif(sum(hits) + sum(misses), 0) AS hit_ratio,
               coalesce(sum(saved_cost_usd), 0) AS saved_cost_usd
        FROM marts.mart_response_cache_daily WHERE {_range("day")}
    """
    try:
        row = _query(sql, _range_params(start, end), path).iloc[0].to_dict()
    except duckdb.CatalogException:
        row = {"hits": 0, "misses": 0, "hit_ratio": None, "saved_cost_usd": 0}
    return {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}


def _intent_filters(role_id: str | None, model_id: str | None) -> tuple[str, list]:
    """`AND role_id = ? AND model_id = ?` for the filters given (None: every role or model)."""
    sql, params = "", []
    for column, value in (("role_id", role_id), ("model_id", model_id)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    return sql, params


def intents(
    start: date | None = None,
    end: date | None = None,
    *,
    role_id: str | None = None,
    model_id: str | None = None,
    limit: int = 20,
    path: Path | None = None,
) -> pd.DataFrame:
    """The top intents of the range (marts.mart_intents_daily, decision 0055): per topic of the last intents
    run, its name (top terms), the users' requests in chats and their share of the range's requests, most
    asked first; optionally of one assistant role or model ('(none)': a chat without a role, a request
    without an answer)."""
    where, params = _intent_filters(role_id, model_id)
    return _query(
        f"""
        SELECT topic_id, topic_name, sum(requests)::BIGINT AS requests,
               round(sum(requests) / sum(sum(requests)) OVER (), 4) AS share
        FROM marts.mart_intents_daily WHERE {_range("day")}{where}
        GROUP BY topic_id, topic_name ORDER BY requests DESC, topic_id LIMIT ?
        """,
        [*_range_params(start, end), *params, max(0, int(limit))],
        path,
    )


def intent_dimensions(
    start: date | None = None, end: date | None = None, *, path: Path | None = None
) -> pd.DataFrame:
    """The assistant roles and models of the range's requests in chats ('(none)' included), with their
    requests: what the intents can be narrowed to."""
    return _query(
        "SELECT role_id, model_id, sum(requests)::BIGINT AS requests FROM marts.mart_intents_daily "
        f"WHERE {_range('day')} GROUP BY ALL ORDER BY requests DESC, role_id, model_id",
        _range_params(start, end),
        path,
    )


def intents_daily(
    start: date | None = None,
    end: date | None = None,
    *,
    topic_ids: list[int] | None = None,
    role_id: str | None = None,
    model_id: str | None = None,
    path: Path | None = None,
) -> pd.DataFrame:
    """Requests per UTC day and topic in the range (the trend of each intent), of the topics given (None:
    all); a day without a topic's requests has no row for it."""
    where, params = _intent_filters(role_id, model_id)
    if topic_ids is not None:
        where += " AND list_contains(?, topic_id)"
        params.append([int(t) for t in topic_ids])
    return _query(
        f"""
        SELECT day, topic_id, topic_name, sum(requests)::BIGINT AS requests
        FROM marts.mart_intents_daily WHERE {_range("day")}{where}
        GROUP BY day, topic_id, topic_name ORDER BY day, topic_id
        """,
        [*_range_params(start, end), *params],
        path,
    )


def intent_examples(topic_ids: list[int] | None = None, *, path: Path | None = None) -> pd.DataFrame:
    """Up to five example requests of each topic (cut to 200 characters, nearest the topic's centre first),
    of the topics given (None: all)."""
    return _query(
        "SELECT topic_id, topic_name, example_rank, snippet FROM marts.mart_intent_examples "
        "WHERE ? IS NULL OR list_contains(?, topic_id) ORDER BY topic_id, example_rank",
        [None if topic_ids is None else [int(t) for t in topic_ids]] * 2,
        path,
    )


def kpis(
    start: date | None = None, end: date | None = None, *, path: Path | None = None
) -> dict[str, float | None]:
    """The Overview's figures for [start, end] (either end open when None): DAU, rolling WAU and MAU,
    stickiness on the range's last day; new users, chats, messages, calls, errors, tokens in and out, cost
    and credits summed over the range."""
    frame = _query(
        f"""
        WITH actives AS (
            SELECT dau, wau, mau, stickiness FROM marts.mart_active_users_daily
            WHERE day <= coalesce(CAST(? AS DATE), DATE '9999-12-31') ORDER BY day DESC LIMIT 1
        ),
        fresh AS (SELECT sum(new_users)::BIGINT AS new_users FROM marts.mart_active_users_daily
                  WHERE {_range("day")}),
        talk AS (SELECT sum(chats_created)::BIGINT AS chats, sum(messages_sent)::BIGINT AS messages
                 FROM marts.mart_chats_daily WHERE {_range("day")}),
        spend AS (
            SELECT sum(calls)::BIGINT AS calls, sum(failed_calls)::BIGINT AS failed_calls,
                   sum(input_tokens)::BIGINT AS input_tokens, sum(output_tokens)::BIGINT AS output_tokens,
                   sum(cost_usd) AS cost_usd, sum(credits) AS credits
            FROM marts.mart_usage_daily WHERE {_range("day")}
        )
        SELECT * FROM fresh, talk, spend LEFT JOIN actives ON TRUE
        """,
        [end, *_range_params(start, end), *_range_params(start, end), *_range_params(start, end)],
        path,
    )
    row = frame.iloc[0].to_dict() if not frame.empty else {}
    return {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}


# The experiments' comparison (decision 0060): the columns the analytics API answers, in its order.
EXPERIMENT_VARIANT_COLUMNS = (
    "variant", "calls", "users", "errors", "cache_hits", "excluded", "error_rate", "error_rate_low",
    "error_rate_high", "latency_p50_ms", "latency_p50_low", "latency_p50_high", "latency_p95_ms",
    "latency_p95_low", "latency_p95_high", "tokens_per_call", "tokens_per_call_low", "tokens_per_call_high",
    "cost_per_call_usd", "cost_per_call_low", "cost_per_call_high", "feedback_count",
    "feedback_positive_share", "feedback_positive_low", "feedback_positive_high",
)  # fmt: skip
EXPERIMENT_COMPARISON_COLUMNS = (
    "variant", "versus", "metric", "control_value", "value", "difference", "relative", "low", "high",
    "outcome",
)  # fmt: skip


def experiment(experiment_id: str, *, path: Path | None = None) -> dict:
    """One experiment's comparison as the last publication holds it (marts.mart_experiment_variants and
    marts.mart_experiment_comparisons, decision 0060), read in one cursor: the settings of the build
    (confidence, control, min_calls, min_feedback), when it was published (`refreshed_at`), one dict per
    variant (by key) and one per comparison (by variant, then metric in the marts' order). An experiment
    the warehouse has no call of (none yet, or an id it does not know) has no variants and no comparisons.
    A serving copy published before these marts raises ServingNotReady: the next run builds them."""
    with connect_serving(path) as con:
        try:
            confidence, control, min_calls, min_feedback = con.execute(
                "SELECT confidence, control_variant, min_calls, min_feedback "
                "FROM marts.mart_experiment_settings"
            ).fetchone()
        except duckdb.CatalogException:
            raise ServingNotReady(
                "the published warehouse predates the experiments' comparison: run `aiadmin pipeline run`"
            ) from None
        (published,) = con.execute("SELECT max(published_at) FROM main._publication").fetchone()

        def rows(sql: str, columns: tuple[str, ...]) -> list[dict]:
            found = con.execute(sql.format(columns=", ".join(columns)), [experiment_id]).fetchall()
            return [dict(zip(columns, row, strict=True)) for row in found]

        variants = rows(
            "SELECT {columns} FROM marts.mart_experiment_variants WHERE experiment_id = ? ORDER BY variant",
            EXPERIMENT_VARIANT_COLUMNS,
        )
        comparisons = rows(
            "SELECT {columns} FROM marts.mart_experiment_comparisons WHERE experiment_id = ? "
            "ORDER BY variant, metric_order",
            EXPERIMENT_COMPARISON_COLUMNS,
        )
    return {
        "confidence": confidence, "control": control, "min_calls": min_calls, "min_feedback": min_feedback,
        "refreshed_at": published.replace(tzinfo=UTC) if published else None,
        "variants": variants, "comparisons": comparisons,
    }  # fmt: skip

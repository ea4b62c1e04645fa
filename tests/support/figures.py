"""The warehouse against the OLTP database: bulk test events, and the figures (OLTP, raw, marts) that must
match after any run, killed or not."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from api.core.settings import Settings

LLM_CALL_TYPES = ("llm.call_succeeded", "llm.call_failed")

_BULK_ACCOUNTS = """
INSERT INTO accounts (id, email, password_hash, role, plan_code, country, is_blocked, created_at,
                      email_verified_at, balance)
SELECT md5('bulk-user-' || u)::uuid, 'bulk-user-' || u || '@example.com', 'x', 'user',
       CASE WHEN u % 5 = 0 THEN 'pro' ELSE 'free' END, (ARRAY['US', 'DE', 'FR', 'JP', 'BR'])[1 + u % 5],
       false, now() - interval '40 days', now() - interval '40 days', 100
FROM generate_series(1, %(users)s::int) AS u
ON CONFLICT (id) DO NOTHING
"""

# Event g of a batch (salted, so that batches differ): a type by g mod 20 (55 % successful LLM calls), a
# user, an hour in the last 30 days (so that a new batch also lands on days already built).
_BULK_EVENTS = """
WITH draws AS (
    SELECT g, (1 + (g::bigint * 7919 + %(salt)s::int) %% %(users)s::int)::int AS u,
           ((g::bigint * 31 + %(salt)s::int) %% 20)::int AS kind
    FROM generate_series(1, %(events)s::int) AS g
),
shaped AS (
    SELECT draws.*,
           CASE WHEN kind < 11 THEN 'llm.call_succeeded' WHEN kind = 11 THEN 'llm.call_failed'
                WHEN kind < 17 THEN 'message.sent' WHEN kind = 17 THEN 'chat.created'
                WHEN kind = 18 THEN 'user.login_succeeded' ELSE 'quota.exceeded' END AS type,
           kind < 18 AS in_chat, kind < 12 AS is_call, 10 + g %% 500 AS tokens_in, 5 + g %% 300 AS tokens_out
    FROM draws
)
INSERT INTO usage_events (event_id, occurred_at, type, user_id, chat_id, model_id, provider, plan,
                          input_tokens, output_tokens, cost_usd, credits, latency_ms, status, error_code,
                          country, client, properties)
SELECT gen_random_uuid(),
       date_trunc('hour', now()) - ((g * 7 + %(salt)s::int) %% 720) * interval '1 hour'
           - (g %% 3600) * interval '1 second',
       type, md5('bulk-user-' || u)::uuid,
       CASE WHEN in_chat THEN md5('bulk-chat-' || u || '-' || g %% 7)::uuid END,
       CASE WHEN in_chat THEN (ARRAY['mock-small', 'mock-large'])[1 + g %% 2] END,
       CASE WHEN is_call THEN 'mock' END,
       CASE WHEN u %% 5 = 0 THEN 'pro' ELSE 'free' END,
       CASE WHEN is_call OR type = 'message.sent' THEN tokens_in END,
       CASE WHEN type = 'llm.call_succeeded' THEN tokens_out WHEN type = 'llm.call_failed' THEN 0 END,
       CASE WHEN type = 'llm.call_succeeded' THEN round((tokens_in * 0.1 + tokens_out * 0.2) / 1e6, 8)
            WHEN type = 'llm.call_failed' THEN 0 END,
       CASE WHEN type = 'llm.call_succeeded' THEN round((tokens_in * 0.1 + tokens_out * 0.2) / 1e6 * 150, 6)
            WHEN type = 'llm.call_failed' THEN 0 END,
       CASE WHEN is_call THEN 100 + g %% 2000 END,
       CASE WHEN type IN ('llm.call_failed', 'quota.exceeded') THEN 'error' ELSE 'ok' END,
       CASE WHEN type = 'llm.call_failed' THEN 'provider_500'
            WHEN type = 'quota.exceeded' THEN 'quota_exceeded' END,
       (ARRAY['US', 'DE', 'FR', 'JP', 'BR'])[1 + u %% 5], 'web', '{}'::jsonb
FROM shaped
"""


def _libpq(settings: Settings) -> str:
    return make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def bulk_events(settings: Settings, events: int, *, users: int = 2_000, salt: int = 0) -> None:
    """`events` usage events of `users` accounts (made if missing), written by PostgreSQL itself (INSERT …
    SELECT … FROM generate_series, as bench/pipeline.py does): a million in seconds, no API calls."""
    import psycopg

    with psycopg.connect(_libpq(settings), autocommit=True) as conn:
        conn.execute(_BULK_ACCOUNTS.replace("%(users)s", str(int(users))))
        conn.execute(_BULK_EVENTS, {"events": events, "users": users, "salt": salt})


def change_plans(settings: Settings, every: int) -> int:
    """Move every `every`-th bulk account to the other plan (what the dimension snapshots record)."""
    import psycopg

    with psycopg.connect(_libpq(settings), autocommit=True) as conn:
        changed = conn.execute(
            "UPDATE accounts SET plan_code = CASE plan_code WHEN 'pro' THEN 'free' ELSE 'pro' END "
            "WHERE email LIKE 'bulk-user-%%' AND abs(hashtext(email)) %% %s = 0",
            [every],
        )
        return changed.rowcount


def oltp_figures(settings: Settings) -> dict:
    """The oracle, from the OLTP database (PostgreSQL): what the warehouse must hold, exactly."""
    import psycopg

    with psycopg.connect(_libpq(settings)) as conn:
        events, id_sum, distinct = conn.execute(
            "SELECT count(*), coalesce(sum(id), 0), count(DISTINCT event_id) FROM usage_events"
        ).fetchone()
        by_type = dict(conn.execute("SELECT type, count(*) FROM usage_events GROUP BY type").fetchall())
        calls = conn.execute(
            "SELECT (occurred_at AT TIME ZONE 'UTC')::date, count(*), sum(coalesce(input_tokens, 0)), "
            "sum(coalesce(output_tokens, 0)), sum(coalesce(cost_usd, 0)), sum(coalesce(credits, 0)) "
            "FROM usage_events WHERE type = ANY(%s) GROUP BY 1 ORDER BY 1",
            [list(LLM_CALL_TYPES)],
        ).fetchall()
        plans = dict(conn.execute("SELECT plan_code, count(*) FROM accounts GROUP BY 1").fetchall())
    return {
        "events": events,
        "id_sum": int(id_sum),
        "distinct_event_ids": distinct,
        "by_type": by_type,
        "calls_by_day": [tuple(row) for row in calls],
        "accounts_by_plan": plans,
    }


# Each mart that carries the call totals, summed to the UTC day: (day, calls, tokens in, out, cost, credits).
_MART_CALLS_BY_DAY = {
    "mart_usage_daily": "SELECT day, sum(calls), sum(input_tokens), sum(output_tokens), sum(cost_usd), "
    "sum(credits) FROM marts.mart_usage_daily GROUP BY day ORDER BY day",
    "mart_geography_daily": "SELECT day, sum(calls), sum(input_tokens), sum(output_tokens), sum(cost_usd), "
    "sum(credits) FROM marts.mart_geography_daily GROUP BY day ORDER BY day",
    "fct_llm_calls": "SELECT day, count(*), sum(input_tokens), sum(output_tokens), sum(cost_usd), "
    "sum(credits) FROM marts.fct_llm_calls GROUP BY day ORDER BY day",
}


def mart_figures(path) -> dict:
    """What the marts of a warehouse file (working or serving copy) say, in the oracle's terms."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        figures = {
            mart: [tuple(row) for row in con.execute(sql).fetchall()]
            for mart, sql in _MART_CALLS_BY_DAY.items()
        }
        figures["fct_llm_calls_distinct"] = con.execute(
            "SELECT count(*) - count(DISTINCT event_id) FROM marts.fct_llm_calls"
        ).fetchone()[0]
        figures["completions"] = con.execute("SELECT sum(completions) FROM marts.fct_user_days").fetchone()[0]
        figures["published_at"] = (
            con.execute("SELECT max(published_at) FROM main._publication").fetchone()[0]
            if _has_table(con, "main", "_publication")
            else None
        )
    return figures


def _has_table(con, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def marts_match(marts: dict, oracle: dict) -> list[str]:
    """The differences between the marts and the oracle (empty: they agree exactly)."""
    problems = [
        f"{mart}: {marts[mart]!r} != OLTP {oracle['calls_by_day']!r}"[:500]
        for mart in _MART_CALLS_BY_DAY
        if marts[mart] != oracle["calls_by_day"]
    ]
    if marts["fct_llm_calls_distinct"]:
        problems.append(f"fct_llm_calls: {marts['fct_llm_calls_distinct']} duplicated events")
    if marts["completions"] != oracle["by_type"].get("llm.call_succeeded", 0):
        problems.append(f"fct_user_days completions {marts['completions']} != {oracle['by_type']}")
    return problems


def raw_figures(warehouse_path) -> dict:
    """The working warehouse's raw events and extract cursor, and its dimension snapshots' shape."""
    import duckdb

    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        events, id_sum, distinct = con.execute(
            "SELECT count(*), coalesce(sum(id), 0), count(DISTINCT event_id) FROM raw.usage_events"
        ).fetchone()
        by_type = dict(con.execute("SELECT type, count(*) FROM raw.usage_events GROUP BY type").fetchall())
        cursor = con.execute("SELECT cursor FROM raw.extract_state WHERE source = 'usage_events'").fetchone()
        snapshots = {}
        if _has_table(con, "snapshots", "snap_accounts"):
            snapshots = {
                "versions": con.execute("SELECT count(*) FROM snapshots.snap_accounts").fetchone()[0],
                "current_by_plan": dict(
                    con.execute(
                        "SELECT plan_code, count(*) FROM snapshots.snap_accounts "
                        "WHERE dbt_valid_to IS NULL GROUP BY 1"
                    ).fetchall()
                ),
                "keys_with_two_current": con.execute(
                    "SELECT count(*) FROM (SELECT id FROM snapshots.snap_accounts WHERE dbt_valid_to IS NULL "
                    "GROUP BY id HAVING count(*) > 1)"
                ).fetchone()[0],
            }
    return {
        "events": events,
        "id_sum": int(id_sum),
        "distinct_event_ids": distinct,
        "by_type": by_type,
        "cursor": cursor[0] if cursor else None,
        "snapshots": snapshots,
    }


def raw_matches(raw: dict, oracle: dict) -> list[str]:
    """The differences between the raw events and the oracle (empty: every event once, none missing)."""
    problems = [
        f"{key}: warehouse {raw[key]!r} != OLTP {oracle[key]!r}"
        for key in ("events", "id_sum", "distinct_event_ids", "by_type")
        if raw[key] != oracle[key]
    ]
    if raw["snapshots"] and raw["snapshots"]["current_by_plan"] != oracle["accounts_by_plan"]:
        problems.append(
            f"snap_accounts current plans {raw['snapshots']} != OLTP {oracle['accounts_by_plan']}"
        )
    if raw["snapshots"] and raw["snapshots"]["keys_with_two_current"]:
        problems.append(
            f"snap_accounts: {raw['snapshots']['keys_with_two_current']} keys with two current rows"
        )
    return problems

"""Pipeline benchmark: N synthetic usage events in PostgreSQL, then the warehouse pipeline over them step by
step: extract into DuckDB, dimension copy, dbt full build, an incremental run of 100k more events, publish,
and every panel / analytics query on the serving copy.

    .venv/bin/python bench/pipeline.py [--events 1000000 10000000] [--incremental 100000] [--keep]

Each size gets a fresh PostgreSQL database (`aiadmin_bench_pipeline`, migrated) and a fresh warehouse
directory. Events are generated server-side (`INSERT … SELECT … FROM generate_series`) in chunks; their
shape: 5,000-50,000 users, 90 days, mostly LLM calls. Prints a table per size and writes the figures to
bench/RESULTS.md (section "Pipeline"), with the targets marked met or not met.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from results import write_section

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("AIADMIN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "aiadmin_bench_pipeline"
SECRET = "bench-secret-key-0123456789-abcdefghij"
CHUNK = 250_000
RUNS = 5
DAYS = 90

# Targets (checked on the largest size run; the build target is for 10M events).
TARGET_EXTRACT_RATE = 1_000_000  # events/s
TARGET_BUILD_SECONDS = 120  # full build of 10M events
TARGET_BUILD_EVENTS = 10_000_000
TARGET_QUERY_MS = 200  # every panel query, on 10M events

# The shape of the synthetic events (arrays are 1-based in SQL).
COUNTRIES = ["US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "ES", "PL", "NL", "UA"]
MODELS = ["mock-small", "mock-large", "gpt-4o-mini", "claude-3-5-haiku", "llama-3.1-70b"]
PROVIDERS = ["mock", "mock", "openai", "anthropic", "groq"]
PRICE_IN = [0.10, 1.00, 0.15, 0.80, 0.60]  # USD per million tokens
PRICE_OUT = [0.20, 3.00, 0.60, 4.00, 0.80]
ROLES = ["paraphrase", "fix-grammar", "prompt-writer"]
CLIENTS = ["web", "web", "web", "api", "telegram"]


def _array(values: list) -> str:
    if isinstance(values[0], str):
        return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"
    return "ARRAY[" + ", ".join(repr(v) for v in values) + "]::float8[]"


# A user u (1..users): a stable UUID, a registration time within the first 88 days, plan and country.
USER_ID = "md5('bench-user-' || {u})::uuid"
REG_AT = (
    "%(start)s::timestamptz"
    " + ((({u})::bigint * 2654435761) %% 1000003)::float8 / 1000003 * interval '88 days'"
)
PLAN = "CASE WHEN ({u}) %% 5 = 0 THEN 'pro' ELSE 'free' END"
COUNTRY = f"({_array(COUNTRIES)})[1 + (({{u}})::bigint * 7919) %% {len(COUNTRIES)}]"


def user_sql(u: str) -> dict[str, str]:
    return {
        "user_id": USER_ID.format(u=u),
        "reg_at": REG_AT.format(u=u),
        "plan": PLAN.format(u=u),
        "country": COUNTRY.format(u=u),
    }


ACCOUNTS_SQL = """
INSERT INTO accounts (id, email, password_hash, role, plan_code, country, is_blocked, created_at,
                      email_verified_at, balance)
SELECT {user_id}, 'bench-user-' || u || '@example.com', 'x', 'user', {plan}, {country}, false,
       {reg_at}, {reg_at}, 100
FROM generate_series(1, %(users)s::int) AS u
""".format(**user_sql("u"))

REGISTRATIONS_SQL = """
INSERT INTO usage_events (event_id, occurred_at, type, user_id, plan, status, country, client, properties)
SELECT gen_random_uuid(), {reg_at}, 'user.registered', {user_id}, {plan}, 'ok', {country},
       ({clients})[1 + floor(random() * {n_clients})::int], '{{"role": "user"}}'::jsonb
FROM generate_series(%(lo)s::int, %(hi)s::int) AS u
""".format(**user_sql("u"), clients=_array(CLIENTS), n_clients=len(CLIENTS))

# Activity: heavy users have low numbers (power law); activity fades after registration (churn).
EVENTS_SQL = """
WITH draws AS (
    SELECT 1 + floor(%(users)s::int * power(random(), 1.6))::int AS u,
           random() AS r_type, random() AS r_at, random() AS r_model, random() AS r_role, random() AS r_in,
           random() AS r_out, random() AS r_lat, random() AS r_client, random() AS r_chat, random() AS r_err
    FROM generate_series(%(lo)s::int, %(hi)s::int) AS g
    OFFSET 0
),
shaped AS (
    SELECT draws.*,
           CASE WHEN r_type < 0.55 THEN 'llm.call_succeeded' WHEN r_type < 0.58 THEN 'llm.call_failed'
                WHEN r_type < 0.83 THEN 'message.sent' WHEN r_type < 0.90 THEN 'chat.created'
                WHEN r_type < 0.98 THEN 'user.login_succeeded' ELSE 'quota.exceeded' END AS type,
           1 + floor({n_models} * power(r_model, 1.5))::int AS m,
           greatest({reg_at}, %(from)s::timestamptz) AS since,
           20 + floor(power(r_in, 2) * 4000)::int AS tokens_in,
           10 + floor(r_out * 1200)::int AS tokens_out
    FROM draws
    OFFSET 0
),
events AS (
    SELECT shaped.*,
           since + power(r_at, 1.3) * (%(until)s::timestamptz - since) AS at,
           type IN ('llm.call_succeeded', 'llm.call_failed', 'message.sent', 'chat.created') AS in_chat,
           type IN ('llm.call_succeeded', 'llm.call_failed') AS is_call,
           round(((tokens_in * ({price_in})[m] + tokens_out * ({price_out})[m]) / 1e6)::numeric, 8) AS cost
    FROM shaped
)
INSERT INTO usage_events (event_id, occurred_at, type, user_id, chat_id, role_id, model_id, provider, plan,
                          input_tokens, output_tokens, cost_usd, credits, latency_ms, status, error_code,
                          country, client, properties)
SELECT gen_random_uuid(), at, type, {user_id},
       CASE WHEN in_chat THEN md5('bench-chat-' || u || '-' || floor(r_chat * 40))::uuid END,
       CASE WHEN in_chat AND r_role >= 0.5 THEN ({roles})[1 + floor((r_role - 0.5) * 2 * {n_roles})::int] END,
       CASE WHEN in_chat THEN ({models})[m] END,
       CASE WHEN is_call THEN ({providers})[m] END,
       {plan},
       CASE WHEN is_call OR type = 'message.sent' THEN tokens_in END,
       CASE WHEN type = 'llm.call_succeeded' THEN tokens_out WHEN type = 'llm.call_failed' THEN 0 END,
       CASE WHEN type = 'llm.call_succeeded' THEN cost WHEN type = 'llm.call_failed' THEN 0 END,
       CASE WHEN type = 'llm.call_succeeded' THEN cost * 150 WHEN type = 'llm.call_failed' THEN 0 END,
       CASE WHEN type = 'llm.call_succeeded' THEN 150 + floor(power(r_lat, 3) * 8000)::int
            WHEN type = 'llm.call_failed' THEN 500 + floor(r_lat * 30000)::int END,
       CASE WHEN type = 'llm.call_failed' OR type = 'quota.exceeded' THEN 'error' ELSE 'ok' END,
       CASE WHEN type = 'llm.call_failed' THEN
                CASE WHEN r_err < 0.6 THEN 'upstream_timeout' ELSE 'upstream_error' END
            WHEN type = 'quota.exceeded' THEN
                CASE WHEN r_err < 0.7 THEN 'quota_exceeded' ELSE 'token_quota_exceeded' END END,
       {country},
       ({clients})[1 + floor(r_client * {n_clients})::int],
       CASE WHEN type = 'quota.exceeded' THEN
                CASE WHEN r_err < 0.7 THEN '{{"metric": "requests_per_day", "limit": 50}}'::jsonb
                     ELSE '{{"metric": "tokens_per_day", "limit": 2000000}}'::jsonb END
            WHEN type = 'llm.call_failed' THEN '{{"attempts": [{{"provider": "mock"}}]}}'::jsonb
            ELSE '{{}}'::jsonb END
FROM events
""".format(
    **user_sql("u"),
    n_models=len(MODELS),
    models=_array(MODELS),
    providers=_array(PROVIDERS),
    price_in=_array(PRICE_IN),
    price_out=_array(PRICE_OUT),
    roles=_array(ROLES),
    n_roles=len(ROLES),
    clients=_array(CLIENTS),
    n_clients=len(CLIENTS),
)

# Representative analytics over the marts: (name, SQL). "Last 30 days" ends at the last day with data.
MART_QUERIES: list[tuple[str, str]] = [
    (
        "DAU/WAU/MAU series",
        "SELECT day, dau, wau, mau, stickiness, new_users FROM marts.mart_active_users_daily ORDER BY day",
    ),
    (
        "top 10 users by cost, 30 d",
        "SELECT user_id, sum(cost_usd) AS cost_usd, sum(completions) AS completions, count(*) AS days "
        "FROM marts.fct_user_days "
        "WHERE day > (SELECT max(day) FROM marts.fct_user_days) - INTERVAL 30 DAY "
        "GROUP BY user_id ORDER BY cost_usd DESC LIMIT 10",
    ),
    (
        "top 10 models, 30 d",
        "SELECT model_id, sum(calls) AS calls, sum(input_tokens + output_tokens) AS tokens, "
        "sum(cost_usd) AS cost_usd FROM marts.mart_usage_daily "
        "WHERE day > (SELECT max(day) FROM marts.mart_usage_daily) - INTERVAL 30 DAY "
        "GROUP BY model_id ORDER BY calls DESC LIMIT 10",
    ),
    (
        "top 10 roles, 30 d",
        "SELECT role_id, sum(calls) AS calls, sum(completions) AS completions, sum(cost_usd) AS cost_usd "
        "FROM marts.mart_usage_daily "
        "WHERE day > (SELECT max(day) FROM marts.mart_usage_daily) - INTERVAL 30 DAY "
        "GROUP BY role_id ORDER BY calls DESC LIMIT 10",
    ),
    (
        "geography, 30 d",
        "SELECT country_code, sum(active_users) AS user_days, sum(new_users) AS new_users, "
        "sum(calls) AS calls, sum(cost_usd) AS cost_usd FROM marts.mart_geography_daily "
        "WHERE day > (SELECT max(day) FROM marts.mart_geography_daily) - INTERVAL 30 DAY "
        "GROUP BY country_code ORDER BY calls DESC",
    ),
    (
        "retention cohorts",
        "SELECT cohort_week, week_number, cohort_size, active_users, retention_pct "
        "FROM marts.mart_retention_weekly ORDER BY cohort_week, week_number",
    ),
    (
        "latency p50/p95, 30 d",
        "SELECT day, provider, model_id, calls, error_rate, latency_p50_ms, latency_p95_ms "
        "FROM marts.mart_latency_daily "
        "WHERE day > (SELECT max(day) FROM marts.mart_latency_daily) - INTERVAL 30 DAY "
        "ORDER BY day, provider, model_id",
    ),
    (
        "user facts, top 50 by cost",
        "SELECT * FROM marts.mart_user_facts ORDER BY cost_usd DESC LIMIT 50",
    ),
]


class Progress:
    """tqdm when it is installed, else a line per 10 %."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done, self.shown = total, label, 0, -1
        try:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="ev", unit_scale=True, file=sys.stdout)
        except ImportError:
            self.bar = None

    def update(self, rows: int) -> None:
        self.done += rows
        if self.bar is not None:
            self.bar.update(rows)
            return
        percent = 100 * self.done // max(1, self.total)
        if percent // 10 != self.shown // 10 or self.done == self.total:
            self.shown = percent
            print(f"{self.label}: {percent:3d} % ({self.done:,} of {self.total:,})", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class Query:
    name: str
    kind: str  # "warehouse.queries" or "SQL on marts"
    runs_ms: list[float] = field(default_factory=list)
    rows: int = 0
    error: str | None = None

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms) if self.runs_ms else float("nan")

    @property
    def first_ms(self) -> float:
        return self.runs_ms[0] if self.runs_ms else float("nan")


@dataclass
class Dbt:
    seconds: float  # wall clock of the dbt process
    elapsed: float  # dbt's own elapsed time (run_results.json), without start-up and parsing
    ok: bool
    statuses: dict[str, int]
    slowest: list[tuple[str, float]]
    failures: list[str]


@dataclass
class SizeResult:
    events: int
    users: int
    generate_seconds: float = 0.0
    extract: dict = field(default_factory=dict)
    dimensions_seconds: float = 0.0
    dimensions: dict = field(default_factory=dict)
    full: Dbt | None = None
    incremental_events: int = 0
    incremental_extract: dict = field(default_factory=dict)
    incremental_dimensions_seconds: float = 0.0
    incremental: Dbt | None = None
    reconcile_seconds: float = 0.0
    reconcile_differences: int = 0
    publish_seconds: float = 0.0
    warehouse_mb: float = 0.0
    serving_mb: float = 0.0
    queries: list[Query] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  # 1-minute load average after each step

    @property
    def extract_rate(self) -> float:
        return self.extract["inserted"] / self.extract["seconds"] if self.extract else float("nan")


def users_for(events: int) -> int:
    return max(5_000, min(50_000, events // 200))


def setup_database() -> str:
    """A fresh, migrated PostgreSQL database; its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    from api.core.migrate import upgrade
    from api.core.settings import Settings

    admin_url = make_url(PG).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    url = make_url(PG).set(database=DB_NAME).render_as_string(hide_password=False)
    upgrade(Settings(database_url=url, environment="test", secret_key=SECRET))
    return url


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def generate(
    url: str, events: int, users: int, start: datetime, since: datetime, until: datetime, registrations: bool
) -> float:
    """`events` usage events (the first `users` of them registrations, when asked), in chunks; seconds."""
    import psycopg

    began = time.perf_counter()
    progress = Progress(events, f"generate {events:,} events")
    params = {"users": users, "start": start, "from": since, "until": until}
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        done = 0
        if registrations:  # the bulk load: without the secondary indexes, built again once at the end
            rebuild = _drop_indexes(conn)
            conn.execute(ACCOUNTS_SQL, params)
            for lo in range(1, users + 1, CHUNK):
                hi = min(users, lo + CHUNK - 1)
                conn.execute(REGISTRATIONS_SQL, {**params, "lo": lo, "hi": hi})
                progress.update(hi - lo + 1)
            done = users
        while done < events:
            rows = min(CHUNK, events - done)
            conn.execute(EVENTS_SQL, {**params, "lo": 1, "hi": rows})
            done += rows
            progress.update(rows)
        progress.close()
        if registrations:
            began_indexes = time.perf_counter()
            conn.execute("SET maintenance_work_mem = '512MB'")
            for statement in rebuild:
                conn.execute(statement)
            print(f"indexes rebuilt in {time.perf_counter() - began_indexes:.1f} s", flush=True)
    return time.perf_counter() - began


def _drop_indexes(conn) -> list[str]:
    """Drop the unique constraints and indexes of usage_events but its primary key; the statements that
    make them again, exactly as they were."""
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'usage_events'::regclass AND contype = 'u'"
    ).fetchall()
    indexes = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index AS i "
        "WHERE i.indrelid = 'usage_events'::regclass AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)"
    ).fetchall()
    for name, _ in constraints:
        conn.execute(f'ALTER TABLE usage_events DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    return [
        f'ALTER TABLE usage_events ADD CONSTRAINT "{name}" {definition}' for name, definition in constraints
    ] + [definition for _, definition in indexes]


def vacuum(url: str) -> float:
    """VACUUM ANALYZE, so that the extract reads settled pages, as it would in a live database."""
    import psycopg

    began = time.perf_counter()
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) usage_events")
        conn.execute("VACUUM (ANALYZE) accounts")
    return time.perf_counter() - began


def run_dbt(workdir: Path, warehouse_path: Path, full_refresh: bool, log: Path) -> Dbt:
    from pipelines.dbt_assets import DBT_DIR, DBT_EXECUTABLE

    # Target and log directories in the work directory: dbt/target (the pipeline's manifest) stays as it is.
    target = workdir / "dbt-target"
    env = {
        **os.environ,
        "AIADMIN_WAREHOUSE_PATH": str(warehouse_path),
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(workdir / "dbt-logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    argv = [DBT_EXECUTABLE, "build", *(["--full-refresh"] if full_refresh else []), "--profiles-dir", "."]
    began = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        done = subprocess.run(argv, cwd=DBT_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - began
    statuses: dict[str, int] = {}
    slowest: list[tuple[str, float]] = []
    failures: list[str] = []
    elapsed = float("nan")
    results_file = target / "run_results.json"
    if results_file.exists():
        results = json.loads(results_file.read_text())
        elapsed = results.get("elapsed_time", float("nan"))
        for node in results["results"]:
            statuses[node["status"]] = statuses.get(node["status"], 0) + 1
            if node["status"] not in ("success", "pass"):
                failures.append(f"{node['unique_id']}: {node['status']} {(node.get('message') or '')[:200]}")
        nodes = sorted(results["results"], key=lambda n: n["execution_time"], reverse=True)
        slowest = [(n["unique_id"].split(".", 2)[-1], n["execution_time"]) for n in nodes[:6]]
    return Dbt(seconds, elapsed, done.returncode == 0, statuses, slowest, failures)


def _variants(fn, serving: Path) -> tuple[list[dict], str | None]:
    """The calls to time of a query function, as keyword arguments (the serving copy as `path`): every
    value of a required Literal parameter, then each other value of an optional Literal parameter (the
    grain, the dimension, the metric) alone; dates and limits keep their defaults (the whole range)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: treated as plain
        hints = {}
    base: dict = {}
    required: dict[str, list] = {}
    optional: dict[str, list] = {}
    for name, param in inspect.signature(fn).parameters.items():
        hint = hints.get(name)
        choices = list(typing.get_args(hint)) if typing.get_origin(hint) is typing.Literal else None
        if name == "path":
            base[name] = serving
        elif param.default is not inspect.Parameter.empty:
            if choices:
                optional[name] = [c for c in choices if c != param.default]
        elif choices:
            required[name] = choices
        else:
            return [], f"needs argument {name!r} ({param.annotation})"
    combinations = itertools.product(*required.values())
    variants = [{**base, **dict(zip(required, values, strict=True))} for values in combinations]
    for name, values in optional.items():
        variants += [{**variants[0], name: value} for value in values]
    return variants, None


def _label(name: str, kwargs: dict) -> str:
    return f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "path") + ")"


def time_queries(serving: Path) -> list[Query]:
    import duckdb

    # Functions that find the serving copy through the settings find this one.
    os.environ["AIADMIN_DATA_DIR"] = str(serving.parent)
    from warehouse.settings import get_warehouse_settings

    get_warehouse_settings.cache_clear()
    timed: list[Query] = []
    try:
        panel = importlib.import_module("warehouse.queries")
    except Exception as error:  # reported; the SQL below still runs
        panel = None
        timed.append(Query("warehouse.queries", "warehouse.queries", error=f"import failed: {error}"[:200]))
    functions = [
        (name, fn)
        for name, fn in (inspect.getmembers(panel, inspect.isfunction) if panel else [])
        if fn.__module__ == panel.__name__ and not name.startswith("_") and name != "connect_serving"
    ]
    for name, fn in functions:
        variants, problem = _variants(fn, serving)
        if problem:
            timed.append(Query(f"{name}()", "warehouse.queries", error=problem))
        for kwargs in variants:
            query = Query(_label(name, kwargs), "warehouse.queries")
            for _ in range(RUNS):
                began = time.perf_counter()
                try:
                    result = fn(**kwargs)
                except Exception as error:  # reported: the other queries still run
                    query.error = f"{type(error).__name__}: {error}"[:200]
                    break
                query.runs_ms.append((time.perf_counter() - began) * 1000)
                query.rows = len(result) if hasattr(result, "__len__") else 1
            timed.append(query)

    with duckdb.connect(str(serving), read_only=True) as con:
        for name, sql in MART_QUERIES:
            query = Query(name, "SQL on marts")
            for _ in range(RUNS):
                began = time.perf_counter()
                try:
                    frame = con.execute(sql).df()
                except duckdb.Error as error:
                    query.error = f"{type(error).__name__}: {error}"[:200]
                    break
                query.runs_ms.append((time.perf_counter() - began) * 1000)
                query.rows = len(frame)
            timed.append(query)
    return timed


def measure(events: int, incremental: int, keep: bool) -> SizeResult:
    import duckdb

    from pipelines.checks import reconcile
    from pipelines.dimensions import copy_dimensions
    from pipelines.extract import extract_usage_events
    from pipelines.resources import OltpResource, WarehouseResource
    from warehouse.publish import publish

    users = users_for(events)
    result = SizeResult(events=events, users=users)
    print(f"\n=== {events:,} events, {users:,} users ===", flush=True)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    main_until = end - timedelta(hours=24)  # the incremental batch fills the last 24 hours

    url = setup_database()
    result.generate_seconds = generate(url, events, users, start, start, main_until, registrations=True)
    print(
        f"generated in {result.generate_seconds:.1f} s ({events / result.generate_seconds:,.0f} events/s); "
        f"VACUUM ANALYZE {vacuum(url):.1f} s",
        flush=True,
    )

    workdir = Path(tempfile.mkdtemp(prefix=f"aiadmin-bench-pipeline-{events}-"))
    warehouse_path, serving_path = workdir / "warehouse.duckdb", workdir / "serving.duckdb"
    log = ROOT / "bench" / f".pipeline-dbt-{events}.log"
    log.write_text("")
    oltp = OltpResource(database_url=url)
    warehouse = WarehouseResource(warehouse_path=str(warehouse_path), serving_path=str(serving_path))
    try:
        result.extract = extract_usage_events(oltp, warehouse)
        print(
            f"extract: {result.extract['inserted']:,} events in {result.extract['seconds']:.2f} s "
            f"({result.extract_rate:,.0f} events/s)",
            flush=True,
        )
        began = time.perf_counter()
        result.dimensions = copy_dimensions(oltp, warehouse)
        result.dimensions_seconds = time.perf_counter() - began
        print(f"dimensions: {result.dimensions} in {result.dimensions_seconds:.2f} s", flush=True)
        result.load.append(os.getloadavg()[0])

        result.full = run_dbt(workdir, warehouse_path, full_refresh=True, log=log)
        print(_dbt_line("dbt build --full-refresh", result.full), flush=True)
        result.load.append(os.getloadavg()[0])

        result.incremental_events = incremental
        generate(url, incremental, users, start, main_until, end, registrations=False)
        result.incremental_extract = extract_usage_events(oltp, warehouse)
        print(
            f"incremental extract: {result.incremental_extract['inserted']:,} events in "
            f"{result.incremental_extract['seconds']:.2f} s",
            flush=True,
        )
        began = time.perf_counter()
        copy_dimensions(oltp, warehouse)
        result.incremental_dimensions_seconds = time.perf_counter() - began
        result.incremental = run_dbt(workdir, warehouse_path, full_refresh=False, log=log)
        print(_dbt_line("dbt build (incremental)", result.incremental), flush=True)
        result.load.append(os.getloadavg()[0])

        began = time.perf_counter()
        with duckdb.connect(str(warehouse_path), read_only=True) as con:
            result.reconcile_differences = len(reconcile(con))
        result.reconcile_seconds = time.perf_counter() - began
        print(
            f"reconciliation check: {result.reconcile_differences} differences "
            f"in {result.reconcile_seconds:.2f} s",
            flush=True,
        )

        began = time.perf_counter()
        publish(warehouse_path, serving_path)
        result.publish_seconds = time.perf_counter() - began
        result.warehouse_mb = warehouse_path.stat().st_size / 2**20
        result.serving_mb = serving_path.stat().st_size / 2**20
        print(f"publish: {result.publish_seconds:.2f} s ({result.serving_mb:.0f} MB)", flush=True)

        result.queries = time_queries(serving_path)
        result.load.append(os.getloadavg()[0])
        print_size(result)
    finally:
        if keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def _dbt_line(label: str, dbt: Dbt) -> str:
    slow = ", ".join(f"{name} {s:.1f} s" for name, s in dbt.slowest[:4])
    state = "ok" if dbt.ok else f"FAILED {dbt.failures[:3]}"
    return (
        f"{label}: {dbt.seconds:.1f} s wall, {dbt.elapsed:.1f} s in dbt, {dbt.statuses} {state}; "
        f"slowest {slow}"
    )


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def print_size(r: SizeResult) -> None:
    rows = [
        ("events generated (PostgreSQL)", f"{r.events:,} ({r.users:,} users) in {r.generate_seconds:.1f} s"),
        ("extract", f"{r.extract['seconds']:.2f} s, {r.extract_rate:,.0f} events/s"),
        ("dimensions copy", f"{r.dimensions_seconds:.2f} s ({r.dimensions.get('accounts', 0):,} accounts)"),
        ("dbt build --full-refresh", f"{r.full.seconds:.1f} s ({'ok' if r.full.ok else 'FAILED'})"),
        (
            f"incremental extract ({r.incremental_events:,})",
            f"{r.incremental_extract['seconds']:.2f} s",
        ),
        (
            "incremental dbt build",
            f"{r.incremental.seconds:.1f} s ({'ok' if r.incremental.ok else 'FAILED'})",
        ),
        ("reconciliation check", f"{r.reconcile_seconds:.2f} s, {r.reconcile_differences} differences"),
        ("publish", f"{r.publish_seconds:.2f} s ({r.serving_mb:.0f} MB; warehouse {r.warehouse_mb:.0f} MB)"),
    ]
    print(f"\n{'step':<40} {r.events:,} events")
    for name, value in rows:
        print(f"{name:<40} {value}")
    print(f"\n{'query':<40} {'median ms':>10} {'first ms':>10} {'rows':>8}")
    for q in r.queries:
        if q.error:
            print(f"{q.name:<40} {q.error}")
        else:
            print(f"{q.name:<40} {q.median_ms:10.1f} {q.first_ms:10.1f} {q.rows:8d}")


def write_results(results: list[SizeResult], args) -> None:
    sizes = " | ".join(f"{r.events:,} events" for r in results)
    bar = " | ".join("---" for _ in results)

    def row(label: str, values) -> str:
        return f"| {label} | " + " | ".join(values) + " |"

    lines = [
        "## Pipeline",
        "",
        f"`bench/pipeline.py --events {' '.join(str(n) for n in args.events)}`, on this machine "
        f"({os.cpu_count()} cores, shared by PostgreSQL, DuckDB and dbt; dbt with the profile's 1 thread). "
        "Events are generated in PostgreSQL (a fresh, migrated database per size; "
        "VACUUM ANALYZE after the load), 90 days, 5,000-50,000 users (events / 200), 55 % successful LLM "
        "calls, 3 % failed, messages, chats, logins, quota refusals and one registration per user. "
        "Each size gets a fresh warehouse; the steps are the pipeline's own functions, dbt is run as "
        "`dbt build [--full-refresh] --profiles-dir .` in `dbt/`. The incremental run adds "
        f"{args.incremental:,} events in the last 24 hours, extracts them, copies the dimensions and runs "
        "`dbt build`. Query times are the median of "
        f"{RUNS} runs on the published serving copy (read-only), the result fetched as a DataFrame; the "
        "`warehouse.queries` functions go through `connect_serving()` as the panel does (a read-only "
        'instance of the published file, opened by the first call: the "first" column).',
        "",
        row("step", [f"{r.events:,} events ({r.users:,} users)" for r in results]),
        f"| --- | {bar} |",
        row("generate in PostgreSQL (not a pipeline step)", [f"{r.generate_seconds:.0f} s" for r in results]),
        row("extract, s", [f"{r.extract['seconds']:.2f}" for r in results]),
        row("extract, events/s", [f"{r.extract_rate:,.0f}" for r in results]),
        row("dimensions copy, s", [f"{r.dimensions_seconds:.2f}" for r in results]),
        row(
            "dbt build --full-refresh, s (dbt's own elapsed)",
            [f"{r.full.seconds:.1f} ({r.full.elapsed:.1f}){'' if r.full.ok else ' FAILED'}" for r in results],
        ),
        row(
            f"incremental: extract {args.incremental:,} events, s",
            [f"{r.incremental_extract['seconds']:.2f}" for r in results],
        ),
        row("incremental: dimensions copy, s", [f"{r.incremental_dimensions_seconds:.2f}" for r in results]),
        row(
            "incremental: dbt build, s (dbt's own elapsed)",
            [
                f"{r.incremental.seconds:.1f} ({r.incremental.elapsed:.1f})"
                f"{'' if r.incremental.ok else ' FAILED'}"
                for r in results
            ],
        ),
        row(
            "reconciliation check (pipelines/checks.py), s",
            [f"{r.reconcile_seconds:.2f} ({r.reconcile_differences} differences)" for r in results],
        ),
        row("publish, s", [f"{r.publish_seconds:.2f}" for r in results]),
        row("warehouse / serving copy, MB", [f"{r.warehouse_mb:.0f} / {r.serving_mb:.0f}" for r in results]),
        row(
            "1-minute load average after the steps (min-max)",
            [f"{min(r.load):.1f}-{max(r.load):.1f}" if r.load else "-" for r in results],
        ),
        "",
        "Slowest dbt nodes of the full build (seconds):",
        "",
    ]
    for r in results:
        lines.append(f"- {r.events:,} events: " + ", ".join(f"`{n}` {s:.1f}" for n, s in r.full.slowest))
    lines += ["", "Slowest dbt nodes of the incremental build (seconds):", ""]
    for r in results:
        lines.append(
            f"- {r.events:,} events: " + ", ".join(f"`{n}` {s:.1f}" for n, s in r.incremental.slowest)
        )
    failed = [(r, d) for r in results for d in (r.full, r.incremental) if not d.ok]
    if failed:
        lines += ["", "dbt failures:", ""]
        for r, d in failed:
            lines += [f"- {r.events:,} events: {f}" for f in d.failures[:10]]
    lines += [
        "",
        "Panel and analytics queries, median ms (of "
        f"{RUNS}); `warehouse.queries` functions include opening the serving copy:",
        "",
        row("query", [s for s in sizes.split(" | ")]),
        f"| --- | {bar} |",
    ]
    for index, query in enumerate(results[-1].queries):
        cells = []
        for r in results:
            q = r.queries[index] if index < len(r.queries) else None
            cells.append("-" if q is None else (q.error or f"{q.median_ms:.1f}"))
        lines.append(row(f"{query.name} ({query.kind})", cells))

    biggest = results[-1]
    at = f"{biggest.events:,} events"
    build = next((r for r in results if r.events == TARGET_BUILD_EVENTS), None)
    timed = [q for q in biggest.queries if not q.error]
    worst = max(timed, key=lambda q: q.median_ms) if timed else None
    untimed = [q.name for q in biggest.queries if q.error]
    query_scope = "" if biggest.events >= TARGET_BUILD_EVENTS else f" (only measured up to {at})"
    lines += [
        "",
        "Targets:",
        "",
        f"- extract >= {TARGET_EXTRACT_RATE:,} events/s: "
        + "; ".join(
            f"{r.events:,} events {r.extract_rate:,.0f}/s, {_verdict(r.extract_rate >= TARGET_EXTRACT_RATE)}"
            for r in results
        )
        + ".",
        f"- full build of {TARGET_BUILD_EVENTS:,} events <= {TARGET_BUILD_SECONDS} s: "
        + (
            f"{build.full.seconds:.0f} s, "
            f"{_verdict(build.full.ok and build.full.seconds <= TARGET_BUILD_SECONDS)}."
            if build
            else f"not measured (largest size run: {at}, {biggest.full.seconds:.0f} s)."
        ),
        f"- every panel query <= {TARGET_QUERY_MS} ms on {TARGET_BUILD_EVENTS:,} events{query_scope}: "
        + (
            f"slowest {worst.name} {worst.median_ms:.0f} ms at {at}, "
            f"{_verdict(worst.median_ms <= TARGET_QUERY_MS and not untimed)}"
            + (f"; not timed: {', '.join(untimed)}" if untimed else "")
            + "."
            if worst
            else "no query could be timed."
        ),
        "",
    ]
    write_section("Pipeline", lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--incremental", type=int, default=100_000, help="events added for the incremental run"
    )
    parser.add_argument("--keep", action="store_true", help="keep each size's warehouse directory")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    results = [measure(n, args.incremental, args.keep) for n in args.events]
    write_results(results, args)


if __name__ == "__main__":
    main()

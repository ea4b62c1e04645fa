"""The experiments' comparison marts (docs/decisions/0060) built in seconds over a fixed event set: the dbt
models' own SQL, rendered with their macros and the project's vars (ref, source and var only: the models
use nothing else of dbt), run by DuckDB over raw events in a warehouse file of the pipeline's schemas.
The pipeline's dbt build runs the same files (every published world in the suite builds them, with their
yml tests); this is what lets a test hold them to figures worked out by hand in seconds, not a minute.

The events, worked out in the tests: experiment EXPERIMENT, variant A 200 calls (10 failed), B 200 (30
failed), C 5, D 40; A's completions cost twice B's; B is a second slower; A's scores are mostly positive,
B's mostly not. Around them what must not count: staff tests, calls on the caller's or the plan's model,
cache hits, calls of no experiment, scores of excluded calls.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import jinja2
import pandas as pd
import yaml

from pipelines.extract import RAW_DDL

DBT = Path(__file__).resolve().parents[2] / "dbt"
# The models built, in dependency order, with the schema dbt gives each (dbt_project.yml).
MODELS = {
    "stg_usage_events": ("staging", "view"),
    "int_feedback_latest": ("intermediate", "view"),
    "mart_experiment_settings": ("marts", "table"),
    "mart_experiment_variants": ("marts", "table"),
    "mart_experiment_comparisons": ("marts", "table"),
}
EXPERIMENT = "6f1c0a52-7d7e-4a43-9c55-0c2b8f1d2e01"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _model_path(name: str) -> Path:
    return next(DBT.joinpath("models").rglob(f"{name}.sql"))


def render(name: str) -> str:
    """The model's SQL as dbt compiles it here: refs to their schemas, the project's vars, its macros."""
    variables = yaml.safe_load((DBT / "dbt_project.yml").read_text())["vars"]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    context = {
        "ref": lambda model: f"{MODELS[model][0]}.{model}",
        "source": lambda source, table: f"{source}.{table}",
        "var": lambda key, default=None: variables.get(key, default),
        "config": lambda **_: "",
        "is_incremental": lambda: False,
    }
    for path in sorted((DBT / "macros").glob("*.sql")):
        module = env.from_string(path.read_text(), globals=context).module
        context.update({k: v for k, v in vars(module).items() if isinstance(v, jinja2.runtime.Macro)})
    return env.from_string(_model_path(name).read_text(), globals=context).render()


def build(path: Path, events: list[dict]) -> None:
    """A warehouse file at `path` holding `events` as raw usage events and the models built over them."""
    with duckdb.connect(str(path)) as con:
        con.execute(RAW_DDL)
        columns = ["id", "event_id", "occurred_at", "type", "user_id", "model_id", "provider", "input_tokens",
                   "output_tokens", "cost_usd", "latency_ms", "status", "properties"]  # fmt: skip
        rows = pd.DataFrame([[seq, *(e[c] for c in columns[1:])] for seq, e in enumerate(events, start=1)],
                            columns=columns)  # fmt: skip
        con.register("loaded", rows)
        con.execute(f"INSERT INTO raw.usage_events ({', '.join(columns)}) SELECT * FROM loaded")
        for name, (schema, kind) in MODELS.items():
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(f"CREATE {kind} {schema}.{name} AS {render(name)}")


def _event(type_: str, user: str, at: datetime, properties: dict, **fields) -> dict:
    return {
        "event_id": str(uuid.uuid4()), "occurred_at": at.replace(tzinfo=None), "type": type_, "user_id": user,
        "model_id": fields.get("model_id", "mock-small"), "provider": fields.get("provider", "mock"),
        "input_tokens": fields.get("input_tokens"), "output_tokens": fields.get("output_tokens"),
        "cost_usd": fields.get("cost_usd"), "latency_ms": fields.get("latency_ms"),
        "status": "error" if type_ == "llm.call_failed" else "ok", "properties": json.dumps(properties),
    }  # fmt: skip


def call(variant: str | None, n: int, *, failed: bool = False, latency_ms: int = 500, cost: str = "0.002",
         tokens: tuple[int, int] = (60, 60), users: int = 20, extra: dict | None = None,
         provider: str = "mock") -> dict:  # fmt: skip
    """The n-th call of a variant (None: a call of no experiment), by one of `users` users."""
    properties = {} if variant is None else {"experiment_id": EXPERIMENT, "variant": variant}
    measures = {"latency_ms": latency_ms, "provider": provider}
    if not failed:
        measures.update(input_tokens=tokens[0], output_tokens=tokens[1], cost_usd=cost)
    type_ = "llm.call_failed" if failed else "llm.call_succeeded"
    at = START + timedelta(minutes=n)
    return _event(type_, f"user-{n % users}", at, {**properties, **(extra or {})}, **measures)


def score(completion: dict, positive: bool, *, number: bool = False, later: int = 0) -> dict:
    """Its caller's `feedback.given` of a completion, as the API writes it (a thumb, or a number 1-5)."""
    hex_id = uuid.UUID(completion["event_id"]).hex
    properties = {"completion_id": hex_id, "rating": None, "value": None, "commented": False}
    if number:
        properties["value"] = 5 if positive else 2
    else:
        properties["rating"] = "up" if positive else "down"
    at = START + timedelta(days=1, minutes=later)
    return _event("feedback.given", completion["user_id"], at, properties)


def fixed_events() -> tuple[list[dict], dict]:
    """The fixed event set and what it holds, for the tests to work their figures out from."""
    a_ok = [call("A", i, latency_ms=10 * (i + 1), cost="0.0015" if i % 2 else "0.0025",
                 tokens=(40, 60) if i % 2 else (80, 100)) for i in range(190)]  # fmt: skip
    a_failed = [call("A", 190 + i, failed=True) for i in range(10)]
    b_ok = [call("B", i, latency_ms=1000 + 10 * (i + 1), cost="0.0008" if i % 2 else "0.0012",
                 tokens=(40, 60) if i % 2 else (80, 100), users=25) for i in range(170)]  # fmt: skip
    b_failed = [call("B", 170 + i, failed=True, users=25) for i in range(30)]
    c_ok = [call("C", i, latency_ms=100, cost="0.0001") for i in range(5)]
    d_ok = [call("D", i, latency_ms=700 + 10 * (i + 1), cost="0.0015" if i % 2 else "0.0025")
            for i in range(40)]  # fmt: skip
    # What must not count, each with figures that would show if it did.
    excluded = [call("A", 300 + i, cost="1", latency_ms=99_999, extra={"experiment_model": "caller"})
                for i in range(7)]  # fmt: skip
    excluded += [call("A", 310 + i, failed=True, extra={"experiment_model": "plan"}) for i in range(3)]
    hits = [call("B", 400 + i, cost="0", latency_ms=1, provider="cache", users=25,
                 extra={"cache": "hit", "saved_cost_usd": "0.001"}) for i in range(12)]  # fmt: skip
    staff = [call("A", 500 + i, failed=i % 2 == 0, extra={"staff_test": True}) for i in range(20)]
    outside = [call(None, 600 + i, cost="5") for i in range(15)]
    # Scores: A 40 (30 positive, one of them a change of mind from down), B 40 (10 positive), C 2, and one
    # of an excluded call.
    scores = [score(c, i < 30, number=i % 3 == 0) for i, c in enumerate(a_ok[:40])]
    scores.insert(0, score(a_ok[0], False, later=-1))  # changed to positive below: the latest counts
    scores += [score(c, i < 10) for i, c in enumerate(b_ok[:40])]
    scores += [score(c, True) for c in c_ok[:2]] + [score(excluded[0], False)]
    events = a_ok + a_failed + b_ok + b_failed + c_ok + d_ok + excluded + hits + staff + outside + scores
    held = {"a_ok": a_ok, "b_ok": b_ok, "c_ok": c_ok, "d_ok": d_ok}
    return events, held

"""The gateway's CPU per call with an experiment and the response cache on (issue 19), side by side with the
same gateway without them, the bare FastAPI relay and, if its virtualenv installs, LiteLLM's proxy with its
own in-memory cache, all on one mock upstream on loopback.

    .venv/bin/python bench/gateway_features.py [--seconds 20] [--rounds 4] [--concurrency 8] [--skip-litellm]

aiadmin runs on PostgreSQL with its fast lane on, 16 pro users (so both variants of an experiment are
called), every call on mock-small (free: no credits, so the rows differ only by what is measured):

- no role: the plain call, the baseline;
- role `paraphrase`: the role's system prompt, no experiment, no cache;
- role `fix-grammar` with a running experiment (A: the model named, B: the role's version 1, 50/50);
- role `shorten` with a running experiment like the above and the response cache on for the role:
  every prompt new (each a miss: looked up, answered, kept), then prompts already kept (each a hit).

CPU per call is the aiadmin process's user + system time over the segment, and separately its PostgreSQL
backends' (the bench database's connections, read from /proc), per successful call. The rows are taken in
turns, round after round, so that the machine's drift weighs on each alike. Prints a table and writes it
to bench/RESULTS.md (section "Gateway CPU with an experiment and the cache"). Loopback only; bounded by
--seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from gateway import (
    LITELLM_AUTH,
    PG,
    PY,
    cpu_seconds,
    free_port,
    litellm_ready,
    register_pro_users,
    setup_aiadmin,
    start,
    start_litellm,
    stop,
    tree_cpu,
    wait_ready,
)
from results import write_section

ROOT = Path(__file__).resolve().parent.parent
USERS = 16
KEPT = 40  # prompts per user kept in the cache before the hit rows
TITLE = "Gateway CPU with an experiment and the cache"


@dataclass
class Row:
    name: str
    url: str
    pid: int  # the server whose CPU is read
    body: Callable[[int], dict]  # the n-th call's body
    headers: Callable[[int], dict]
    database: bool = False  # read the bench database's backends too
    calls: int = 0
    errors: int = 0
    seconds: float = 0.0
    server_cpu_ms: float = 0.0
    db_cpu_ms: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    rounds_cpu_ms: list[float] = field(default_factory=list)

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _backends() -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving the bench database."""
    import psycopg

    with psycopg.connect(PG.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        pids = [
            r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = 'aiadmin_bench'")
        ]
    seen = {}
    for pid in pids:
        try:
            seen[pid] = cpu_seconds(pid)
        except OSError:  # ended meanwhile
            pass
    return seen


async def _load(row: Row, seconds: float, concurrency: int, counter: itertools.count) -> None:
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def worker() -> None:
            while time.monotonic() < stop_at:
                n = next(counter)
                began = time.perf_counter()
                try:
                    response = await client.post(row.url, json=row.body(n), headers=row.headers(n))
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    row.latencies_ms.append((time.perf_counter() - began) * 1000)
                    row.calls += 1
                else:
                    row.errors += 1

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        row.seconds += time.monotonic() - began


def _segment(row: Row, seconds: float, concurrency: int, counter: itertools.count) -> None:
    calls_before = row.calls
    cpu_before = tree_cpu(row.pid)
    db_before = _backends() if row.database else {}
    asyncio.run(_load(row, seconds, concurrency, counter))
    cpu_ms = (tree_cpu(row.pid) - cpu_before) * 1000
    if row.database:
        after = _backends()
        row.db_cpu_ms += sum(cpu - db_before.get(pid, 0.0) for pid, cpu in after.items()) * 1000
    row.server_cpu_ms += cpu_ms
    row.rounds_cpu_ms.append(cpu_ms / max(1, row.calls - calls_before))


def _prepare_database(url: str, secret: str) -> None:
    """Every seeded role on mock-small, the routes, two running experiments and the cache rule."""
    from sqlalchemy import insert, update

    from api.cache.models import CacheRule
    from api.catalogue.models import (
        AssistantRole,
        AssistantRoleVersion,
        Experiment,
        ExperimentVariant,
        ModelRoute,
    )
    from api.core.db import make_sync_engine
    from api.core.settings import Settings
    from api.core.types import utcnow

    engine = make_sync_engine(Settings(database_url=url, environment="test", secret_key=secret))
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(ModelRoute).values(
                model_id="mock-small", provider_id="upstream", provider_model="mock-small"
            )
        )
        for model in (AssistantRole, AssistantRoleVersion):
            conn.execute(update(model).values(default_model="mock-small"))
        for role in ("fix-grammar", "shorten"):
            experiment = uuid.uuid4()
            conn.execute(
                insert(Experiment).values(
                    id=experiment, role_id=role, status="running", created_at=now, started_at=now
                )
            )
            conn.execute(
                insert(ExperimentVariant),
                [
                    {
                        "experiment_id": experiment,
                        "key": "A",
                        "model_id": "mock-small",
                        "role_version": None,
                        "weight": 1,
                    },
                    {
                        "experiment_id": experiment,
                        "key": "B",
                        "model_id": None,
                        "role_version": 1,
                        "weight": 1,
                    },
                ],
            )
        conn.execute(
            insert(CacheRule).values(
                scope="role", target="shorten", ttl_seconds=3600, shared=False, updated_at=now
            )
        )
    engine.dispose()


def _users(url: str, secret: str) -> None:
    """USERS - 1 more pro users beside setup_aiadmin's, verified, with credits."""
    from sqlalchemy import update

    from api.accounts.models import Account
    from api.core.db import make_sync_engine
    from api.core.settings import Settings

    settings = Settings(database_url=url, environment="test", secret_key=secret)
    register_pro_users(settings, [f"bench{i}@example.com" for i in range(1, USERS)])
    engine = make_sync_engine(settings)
    with engine.begin() as conn:
        conn.execute(update(Account).values(balance=10**9))
    engine.dispose()


def _tokens(base: str) -> list[str]:
    emails = ["bench@example.com", *(f"bench{i}@example.com" for i in range(1, USERS))]
    tokens = []
    for email in emails:
        response = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": email, "password": "bench-password-123"}, timeout=30
        )
        response.raise_for_status()
        tokens.append(response.json()["access_token"])
    return tokens


def _ask(role: str | None, prompt: str) -> dict:
    return {
        "model": "mock-small",
        "messages": [{"role": "user", "content": prompt}],
        **({"metadata": {"role": role}} if role else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20, help="under load, per row, in all (≤ 300)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--skip-litellm", action="store_true")
    args = parser.parse_args()
    seconds = max(2.0, min(args.seconds, 300.0))
    rounds = max(1, min(args.rounds, 20))
    sys.path.insert(0, str(ROOT))
    procs: list[subprocess.Popen] = []
    rows: list[Row] = []
    uvicorn = str(Path(PY).with_name("uvicorn"))
    quiet = ["--no-access-log", "--log-level", "warning", "--host", "127.0.0.1"]
    run = uuid.uuid4().hex[:8]  # prompts never seen before in this database
    try:
        mock_port = free_port()
        procs.append(start([PY, "-m", "api.providers.mock_server", "--port", str(mock_port)], log="mock"))
        upstream = f"http://127.0.0.1:{mock_port}"
        wait_ready(f"{upstream}/v1/models")

        floor_port = free_port()
        floor = start(
            [uvicorn, "bench.passthrough:app", "--port", str(floor_port), *quiet],
            env={"AIADMIN_BENCH_UPSTREAM": upstream, "PYTHONPATH": str(ROOT)},
            log="passthrough",
        )
        procs.append(floor)
        wait_ready(f"http://127.0.0.1:{floor_port}/docs")

        url, env = setup_aiadmin(upstream)
        secret = env["AIADMIN_SECRET_KEY"]
        _prepare_database(url, secret)
        _users(url, secret)
        api_port = free_port()
        api = start(
            [uvicorn, "api.main:app", "--port", str(api_port), *quiet],
            env={**env, "PYTHONPATH": str(ROOT)},
            log="aiadmin",
        )
        procs.append(api)
        base = f"http://127.0.0.1:{api_port}"
        wait_ready(f"{base}/health")
        bearer = [{"Authorization": f"Bearer {t}"} for t in _tokens(base)]

        def user(n: int) -> dict:
            return bearer[n % USERS]

        # The hit rows' answers: KEPT prompts per user, each kept once (a miss) before any row runs.
        with httpx.Client(timeout=30) as client:
            for n in range(USERS * KEPT):
                response = client.post(
                    f"{base}/v1/chat/completions", json=_ask("shorten", f"kept {n // USERS}"), headers=user(n)
                )
                response.raise_for_status()
        rng = random.Random(19)

        def kept(n: int) -> dict:  # a kept prompt of the n-th call's user (n % USERS)
            return _ask("shorten", f"kept {rng.randrange(KEPT)}")

        endpoint = f"{base}/v1/chat/completions"
        for name, body in (
            ("aiadmin: no role (baseline)", lambda n: _ask(None, f"{run} plain {n}")),
            ("aiadmin: role, no experiment, cache off", lambda n: _ask("paraphrase", f"{run} role {n}")),
            ("aiadmin: role with an experiment, cache off", lambda n: _ask("fix-grammar", f"{run} exp {n}")),
            (
                "aiadmin: experiment + cache on, every call a miss",
                lambda n: _ask("shorten", f"{run} miss {n}"),
            ),
            ("aiadmin: experiment + cache on, every call a hit", kept),
        ):
            rows.append(Row(name, endpoint, api.pid, body, user, database=True))
        relay = f"http://127.0.0.1:{floor_port}/v1/chat/completions"
        rows.insert(
            0,
            Row(
                "FastAPI relay alone (no auth, no DB)",
                relay,
                floor.pid,
                lambda n: _ask(None, f"{run} relay {n}"),
                lambda n: {},
            ),
        )

        if not args.skip_litellm and (binary := litellm_ready()):
            settings = "litellm_settings:\n  cache: true\n  cache_params:\n    type: local\n"
            lite, lite_base = start_litellm(binary, upstream, "mock-small", ".litellm-cache.yaml", settings)
            procs.append(lite)
            lite_url = f"{lite_base}/v1/chat/completions"
            with httpx.Client(timeout=30, headers=LITELLM_AUTH) as client:
                for k in range(KEPT):
                    client.post(lite_url, json=_ask(None, f"kept {k}")).raise_for_status()
            for name, body in (
                (
                    "LiteLLM proxy, in-memory cache on, every call a miss",
                    lambda n: _ask(None, f"{run} lmiss {n}"),
                ),
                (
                    "LiteLLM proxy, in-memory cache on, every call a hit",
                    lambda n: _ask(None, f"kept {rng.randrange(KEPT)}"),
                ),
            ):
                rows.append(Row(name, lite_url, lite.pid, body, lambda n: LITELLM_AUTH))

        counter = itertools.count()
        for row in rows:  # warm-up: a throw-away copy of each row, its calls not counted
            asyncio.run(
                _load(Row(row.name, row.url, row.pid, row.body, row.headers), 1.5, args.concurrency, counter)
            )
        for round_ in range(rounds):
            for row in rows:
                _segment(row, seconds / rounds, args.concurrency, counter)
            print(
                f"round {round_ + 1}/{rounds}: "
                + ", ".join(f"{r.rounds_cpu_ms[-1]:.2f}" for r in rows)
                + " server CPU-ms/call",
                flush=True,
            )
    finally:
        for proc in reversed(procs):
            stop(proc)
    _write(rows, seconds, rounds, args.concurrency)


def _write(rows: list[Row], seconds: float, rounds: int, concurrency: int) -> None:
    base = next((r for r in rows if r.name.startswith("aiadmin: no role")), None)
    lines = [
        f"## {TITLE}",
        "",
        f"`bench/gateway_features.py --seconds {seconds:g} --rounds {rounds} --concurrency {concurrency}`: "
        f"{concurrency} concurrent clients, {seconds:g} s per row in all, in {rounds} rounds taking the rows "
        f"in turn, after a 1.5 s warm-up each; on this machine ({os.cpu_count()} cores shared by the load "
        "generator, the servers and PostgreSQL). aiadmin on PostgreSQL with its fast lane, 16 pro users, "
        "every call on mock-small (free) answered at once by the mock upstream on loopback. Server CPU is "
        "the server process's user + system time per successful call; database CPU is the bench database's "
        "PostgreSQL backends' (aiadmin only). The experiments have two variants (A: the model named, B: the "
        "role's version 1) at 50/50 over the users; the cache is on for the role `shorten` only (hits take "
        "the quota, the default).",
        "",
        "| row | calls/s | p50 ms | p99 ms | server CPU ms/call | database CPU ms/call | "
        "over the baseline (server + database) ms | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        server = r.server_cpu_ms / max(1, r.calls)
        db = r.db_cpu_ms / max(1, r.calls) if r.database else None
        over = ""
        if base is not None and r.database:
            over = f"{server + db - (base.server_cpu_ms + base.db_cpu_ms) / max(1, base.calls):+.2f}"
        lines.append(
            f"| {r.name} | {r.calls / max(r.seconds, 1e-9):.0f} | {r.pct(0.5):.1f} | {r.pct(0.99):.1f} | "
            f"{server:.2f} | {'' if db is None else f'{db:.2f}'} | {over} | {r.errors} |"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines += [
        "",
        "Server CPU per call, round by round: "
        + "; ".join(
            f"{r.name.split(': ', 1)[-1]} {', '.join(f'{x:.2f}' for x in r.rounds_cpu_ms)}" for r in rows
        )
        + ".",
        f"Load average (1, 5, 15 min) after the run: {load}.",
        "",
    ]
    write_section(TITLE, lines)


if __name__ == "__main__":
    main()

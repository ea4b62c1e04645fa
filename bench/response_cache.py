"""Response cache benchmark: a cache hit's latency against a miss and against the cache off, through aiadmin
on PostgreSQL (fast lane on) with the mock upstream on loopback (docs/decisions/0057).

    .venv/bin/python bench/response_cache.py [--calls 200]

One client, one call at a time (the time a call spends in the server, no queueing): `--calls` distinct
prompts to mock-small (a free model: no credits) without a role (cache off), the same prompts with the role
fix-grammar (its cache on: each a miss, its answer kept), then those again (each a hit), non-streamed and
streamed. The mock answers at once, so a
miss here is the gateway's own cost: a real provider adds its seconds to every miss and none to a hit.
Prints a table and writes it to bench/RESULTS.md (section "Response cache"). Loopback only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx
from gateway import PY, free_port, setup_aiadmin, start, stop, wait_ready
from results import write_section

ROOT = Path(__file__).resolve().parent.parent
ROLE = "fix-grammar"  # a seeded role on mock-small: its cache on, the model's off


def _timed(client: httpx.Client, url: str, body: dict) -> float:
    began = time.perf_counter()
    if body.get("stream"):
        with client.stream("POST", url, json=body) as response:
            lines = [line for line in response.iter_lines() if line]
        ok = response.status_code == 200 and lines[-1] == "data: [DONE]"
    else:
        ok = client.post(url, json=body).status_code == 200
    if not ok:
        raise RuntimeError(f"a call failed: {body}")
    return (time.perf_counter() - began) * 1000


def _series(
    client: httpx.Client, url: str, role: str | None, prompts: list[str], stream: bool
) -> list[float]:
    """mock-small, with the role `role` (its cache on) or none (the cache off)."""
    body = {"model": "mock-small", "stream": stream, **({"metadata": {"role": role}} if role else {})}
    return [_timed(client, url, {**body, "messages": [{"role": "user", "content": p}]}) for p in prompts]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200, help="distinct prompts per series (at most 5000)")
    args = parser.parse_args()
    calls = max(10, min(args.calls, 5000))
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import insert

    from api.cache.models import CacheRule
    from api.catalogue.models import ModelRoute
    from api.core.db import make_sync_engine
    from api.core.settings import Settings
    from api.core.types import utcnow

    procs = []
    rows: list[tuple[str, list[float]]] = []
    uvicorn = str(Path(PY).with_name("uvicorn"))
    try:
        mock_port = free_port()
        procs.append(start([PY, "-m", "api.providers.mock_server", "--port", str(mock_port)], log="mock"))
        upstream = f"http://127.0.0.1:{mock_port}"
        wait_ready(f"{upstream}/v1/models")
        url, env = setup_aiadmin(upstream)
        engine = make_sync_engine(
            Settings(database_url=url, environment="test", secret_key=env["AIADMIN_SECRET_KEY"])
        )
        with engine.begin() as conn:
            conn.execute(
                insert(ModelRoute).values(
                    model_id="mock-small", provider_id="upstream", provider_model="mock-small"
                )
            )
            conn.execute(
                insert(CacheRule).values(
                    scope="role", target=ROLE, ttl_seconds=3600, shared=False, updated_at=utcnow()
                )
            )
        engine.dispose()
        api_port = free_port()
        quiet = ["--no-access-log", "--log-level", "warning", "--host", "127.0.0.1"]
        procs.append(start([uvicorn, "api.main:app", "--port", str(api_port), *quiet],
                           env={**env, "PYTHONPATH": str(ROOT)}, log="aiadmin"))  # fmt: skip
        base = f"http://127.0.0.1:{api_port}"
        wait_ready(f"{base}/health")
        token = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": "bench@example.com", "password": "bench-password-123"}
        ).json()["access_token"]
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            endpoint = f"{base}/v1/chat/completions"
            _series(client, endpoint, None, [f"warm-up {i}" for i in range(20)], False)
            for stream in (False, True):
                prompts = [
                    f"Question {i} ({'stream' if stream else 'whole'}): what is {i} squared?"
                    for i in range(calls)
                ]
                kind = "streamed" if stream else "not streamed"
                rows.append(
                    (f"cache off (no role), {kind}", _series(client, endpoint, None, prompts, stream))
                )
                rows.append((f"miss (role {ROLE}), {kind}", _series(client, endpoint, ROLE, prompts, stream)))
                rows.append((f"hit (role {ROLE}), {kind}", _series(client, endpoint, ROLE, prompts, stream)))
    finally:
        for proc in reversed(procs):
            stop(proc)
    lines = [
        "## Response cache",
        "",
        f"`bench/response_cache.py --calls {calls}`: aiadmin on PostgreSQL (fast lane on), a pro user, the "
        "mock upstream on loopback answering at once, mock-small (free) without a role (cache off) and "
        f"with the role {ROLE} (cache on, hits take the default `quota`); one client, one call at a time, "
        f"{calls} distinct prompts per row (a hit row repeats the miss row's prompts); on this machine "
        f"({os.cpu_count()} cores, shared with PostgreSQL and the client). Latency is the client's, from "
        "sending the request to the whole answer (a stream: to `[DONE]`).",
        "",
        "| calls | p50 ms | p90 ms | p99 ms | mean ms |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, values in rows:
        lines.append(
            f"| {name} | {_pct(values, 0.5):.1f} | {_pct(values, 0.9):.1f} | {_pct(values, 0.99):.1f} | "
            f"{sum(values) / len(values):.1f} |"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines += [
        "",
        f"Load average (1, 5, 15 min) after the run: {load} (other work on the machine makes the tails "
        "noisy).",
        "A miss costs what a call with the cache off costs plus the lookup and keeping the answer; a hit "
        "skips the provider (here a mock answering in under a millisecond; a real one takes seconds).",
        "",
    ]
    write_section("Response cache", lines)


if __name__ == "__main__":
    main()

"""Soak: the gateway at its sustainable rate on PostgreSQL while the pipeline runs again and again.

Everything is a real process: the mock vendor and the API under uvicorn (as `make run` starts them), and
`aiadmin pipeline run` in a loop beside them, sharing the machine's cores. The rate is found first, with
the pipeline already running: a few seconds flat out at 16 clients gives the ceiling, and the soak then
paces calls (open loop) at 60 % of it. After PROFILE.soak_seconds (10 minutes in `make test-long`, which
alone runs it; 20 s in the fast profile, when run by hand):

- 0 errors: every call answered 200;
- nothing lost: once the last pipeline run has loaded, the warehouse holds exactly the OLTP's events,
  and as many `llm.call_succeeded` as calls were answered;
- flat memory: the API's resident memory, sampled every second, grows by less than 16 MiB from the end
  of the warm-up to the end (the median of the first and the last fifth of the samples).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from sqlalchemy import update

from api.accounts.models import Account, Plan
from api.catalogue.models import ModelRoute
from api.core.types import utcnow
from pipelines.extract import extract_usage_events
from pipelines.resources import OltpResource, WarehouseResource
from tests.reliability.profile import PROFILE, report
from tests.support.api import (
    PASSWORD,
    db_execute,
    event_counts,
    free_port,
    grant_credits,
    http_provider_row,
    register,
    tokens,
)
from warehouse.settings import WarehouseSettings

BIN = Path(sys.executable).parent
BODY = {"model": "mock-large", "messages": [{"role": "user", "content": "Summarise the plot of Hamlet."}]}
MEMORY_GROWTH_LIMIT_MIB = 16


def _env(settings) -> dict[str, str]:
    return {
        **os.environ,
        "AIADMIN_ENVIRONMENT": "test",
        "AIADMIN_SECRET_KEY": settings.secret_key.get_secret_value(),
        "AIADMIN_DATABASE_URL": settings.database_url,
        "AIADMIN_DATA_DIR": str(settings.data_dir),
        "AIADMIN_MAIL_INTERVAL_SECONDS": "1",
    }


def _start(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    out = log.open("w")
    return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


class Load:
    """Calls paced at a fixed rate (open loop): a slow server shows as lateness, not as a lower rate."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.answered = 0
        self.errors: list[str] = []
        self.latencies: list[float] = []

    async def _call(self, client: httpx.AsyncClient) -> None:
        began = time.perf_counter()
        try:
            response = await client.post("/v1/chat/completions", json=BODY)
            if response.status_code == 200:
                self.answered += 1
                self.latencies.append((time.perf_counter() - began) * 1000)
            else:
                self.errors.append(f"{response.status_code} {response.text[:120]}")
        except httpx.HTTPError as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")

    async def flat_out(self, seconds: float, clients: int) -> float:
        """Calls per second at `clients` in a closed loop: the ceiling the soak paces under."""
        async with self._client(clients) as client:
            stop_at = time.monotonic() + seconds
            before = self.answered

            async def worker() -> None:
                while time.monotonic() < stop_at:
                    await self._call(client)

            began = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(clients)))
            return (self.answered - before) / (time.monotonic() - began)

    async def paced(self, rate: float, seconds: float, sample) -> None:
        """`rate` calls a second for `seconds`, at most 64 in flight: the calls due beyond those wait their
        turn in a FIFO here (httpx's pool scans its whole queue for every call it places: with thousands
        queued, the load generator itself would take the CPU). A server that falls a minute behind is a
        failure, not a longer test."""
        in_flight = asyncio.Semaphore(64)

        async def call(client: httpx.AsyncClient) -> None:
            async with in_flight:
                await self._call(client)

        async with self._client(64) as client:
            pending: set[asyncio.Task] = set()
            began = time.monotonic()
            sent = 0
            next_sample = began
            while (now := time.monotonic()) < began + seconds:
                due = int((now - began) * rate) + 1
                while sent < due:
                    task = asyncio.create_task(call(client))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    sent += 1
                if now >= next_sample:
                    sample()
                    next_sample += 1.0
                if len(pending) > 60 * rate:
                    behind = f"{len(pending)} calls waiting: a minute behind the rate of {rate:.0f}/s"
                    self.errors.append(behind)
                    for task in pending:
                        task.cancel()
                    break
                await asyncio.sleep(min(0.01, 1 / rate))
            await asyncio.gather(*pending, return_exceptions=True)

    def _client(self, connections: int) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30, limits=limits
        )


@pytest.mark.long
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # the production database
def test_soak_at_the_sustainable_rate_with_the_pipeline_running(settings, tmp_path):
    env = _env(settings)
    mock_port, api_port = free_port(), free_port()
    mock = _start(
        [str(BIN / "python"), "-m", "api.providers.mock_server", "--port", str(mock_port)],
        env, tmp_path / "mock.log",
    )  # fmt: skip
    api = _start(
        [str(BIN / "uvicorn"), "api.main:app", "--port", str(api_port), "--no-access-log", "--log-level",
         "warning"],
        env, tmp_path / "api.log",
    )  # fmt: skip
    pipelines: list[subprocess.Popen] = []
    try:
        _wait(f"http://127.0.0.1:{mock_port}/v1/models")
        _wait(f"http://127.0.0.1:{api_port}/health")
        db_execute(
            settings,
            http_provider_row(settings, "vendor", f"http://127.0.0.1:{mock_port}/v1", priority=1),
            ModelRoute.__table__.insert().values(
                model_id="mock-large", provider_id="vendor", provider_model="mock-large"
            ),
            update(Plan).where(Plan.code == "pro").values(daily_requests=None, tokens_per_day=None,
                                                          tokens_per_month=None),
        )  # fmt: skip
        base = f"http://127.0.0.1:{api_port}"
        with httpx.Client(base_url=base) as http:
            register(http, "soak@example.com")
            db_execute(
                settings,
                update(Account)
                .where(Account.email == "soak@example.com")
                .values(plan_code="pro", email_verified_at=utcnow()),
            )
            grant_credits(settings, "soak@example.com", 10**9)
            token = tokens(http, "soak@example.com", PASSWORD)["access_token"]
        load = Load(base, token)

        runs = {"started": 0, "failed": 0}

        def pipeline_loop() -> None:  # one run at a time, started again as soon as one ends
            if pipelines and pipelines[-1].poll() is None:
                return
            if pipelines and pipelines[-1].returncode != 0:
                runs["failed"] += 1
            log = tmp_path / f"pipeline-{len(pipelines)}.log"
            pipelines.append(_start([str(BIN / "aiadmin"), "pipeline", "run"], env, log))
            runs["started"] += 1

        # The ceiling is measured with the pipeline already running: the rate must hold beside it.
        pipeline_loop()
        ceiling = asyncio.run(load.flat_out(5, 16))
        rate = max(5.0, 0.6 * ceiling)
        assert not load.errors, load.errors[:5]

        memory: list[float] = []

        def sample() -> None:
            memory.append(_rss_mib(api.pid))
            pipeline_loop()

        began = time.monotonic()
        asyncio.run(load.paced(rate, PROFILE.soak_seconds, sample))
        soaked = time.monotonic() - began

        # The run under way may have missed the last events: let it end, then extract the rest with the
        # pipeline's own step (a whole run more would add a dbt build and nothing to the count).
        drained = time.monotonic()
        pipelines[-1].wait(timeout=600)
        if pipelines[-1].returncode != 0:
            runs["failed"] += 1
        paths = WarehouseSettings(data_dir=settings.data_dir)
        extract_usage_events(
            OltpResource(database_url=settings.database_url),
            WarehouseResource(warehouse_path=str(paths.warehouse_path), serving_path=str(paths.serving_path)),
        )
        drained = time.monotonic() - drained
        oltp = event_counts(settings)
        with duckdb.connect(str(paths.warehouse_path), read_only=True) as duck:
            loaded = duck.execute("SELECT type, count(*) FROM raw.usage_events GROUP BY type").fetchall()
        warehouse = dict(loaded)
    finally:
        for proc in (*pipelines, api, mock):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()

    fifth = max(1, len(memory) // 5)
    first, last = statistics.median(memory[:fifth]), statistics.median(memory[-fifth:])
    latencies = sorted(load.latencies)
    figures = {
        "seconds": round(soaked, 1),
        "drain_seconds": round(drained, 1),
        "ceiling_calls_per_second": round(ceiling, 1),
        "rate_calls_per_second": round(rate, 1),
        "calls_answered": load.answered,
        "errors": len(load.errors),
        "p50_ms": round(latencies[len(latencies) // 2], 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 1),
        "pipeline_runs": runs["started"],
        "pipeline_runs_failed": runs["failed"],
        "oltp_events": sum(oltp.values()),
        "warehouse_events": sum(warehouse.values()),
        "events_lost": sum(oltp.values()) - sum(warehouse.values()),
        "rss_mib_first": round(first, 1),
        "rss_mib_last": round(last, 1),
    }
    report("soak", "postgresql", **figures)
    print(figures)

    assert load.errors == [], load.errors[:5]
    assert runs["failed"] == 0, figures
    assert warehouse == dict(oltp), (warehouse, oltp)
    assert oltp["llm.call_succeeded"] == load.answered, figures
    assert last - first < MEMORY_GROWTH_LIMIT_MIB, figures

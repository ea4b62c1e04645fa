"""Gateway benchmark: the same mock upstream on loopback, called (a) directly, (b) through aiadmin on
PostgreSQL with quota, billing and the outbox on, (c) through LiteLLM's proxy (its own venv).

    .venv/bin/python bench/gateway.py [--seconds 30] [--rounds 5] [--concurrency 32] [--skip-litellm]
    .venv/bin/python bench/gateway.py --install-only   # make LiteLLM's virtualenv, measure nothing

Prints a table and writes it to bench/RESULTS.md (section "Gateway"). Server CPU is read from
/proc/<pid>/stat (user + system, the process and its children) before and after each run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from results import write_section
from venvs import PinnedVenvError, pinned_venv

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG = os.environ.get("AIADMIN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
LITELLM_VENV = ROOT / "bench" / ".venv-litellm"
# LiteLLM's proxy and its whole tree, each file pinned by its hash (`make lock` writes it from litellm.in):
# the virtualenv installs nothing else, and no other version (never 1.82.7 or 1.82.8, docs/operations.md).
LITELLM_REQUIREMENTS = ROOT / "requirements" / "litellm.txt"
BODY = {"model": "mock-large", "messages": [{"role": "user", "content": "Summarise the plot of Hamlet."}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU of a process and all its live descendants (LiteLLM and uvicorn workers fork)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if int(entry.name) == pid or _descends(int(entry.name), pid, ppid):
            total += cpu_seconds(int(entry.name))
    return total


def _descends(child: int, ancestor: int, parent: int) -> bool:
    seen = 0
    while parent > 1 and seen < 64:
        if parent == ancestor:
            return True
        try:
            parent = int(Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        seen += 1
    return False


def wait_ready(url: str, seconds: float = 120, headers=None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2, headers=headers).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def start(argv: list[str], env: dict | None = None, log: str = "server") -> subprocess.Popen:
    out = open(ROOT / "bench" / f".{log}.log", "w")
    return subprocess.Popen(
        argv, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


@dataclass
class Result:
    name: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    server_cpu_ms: float = 0.0
    alone_ms: list[float] = field(default_factory=list)  # one client alone: the server's own time per call
    rounds_cpu_ms: list[float] = field(default_factory=list)  # CPU per call in each round

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float, latencies: list[float] | None = None) -> float:
        ordered = sorted(self.latencies_ms if latencies is None else latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    @property
    def cpu_per_call(self) -> float:
        return self.server_cpu_ms / max(1, self.requests)


@dataclass
class Target:
    name: str
    url: str
    headers: dict
    pid: int
    result: Result = field(init=False)

    def __post_init__(self) -> None:
        self.result = Result(self.name)


async def load(
    url: str, headers: dict, seconds: float, concurrency: int
) -> tuple[int, int, list[float], float]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < stop_at:
                began = time.perf_counter()
                try:
                    response = await client.post(url, json=BODY)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append((time.perf_counter() - began) * 1000)
                else:
                    errors += 1

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(latencies), errors, latencies, time.monotonic() - began


def measure(targets: list[Target], seconds: float, rounds: int, concurrency: int) -> None:
    """Each target under load for `seconds` in all, in `rounds` turns taken one target after another, so
    that the machine's drift (its speed changes from minute to minute) weighs on every target alike; then
    each alone with one client."""
    for target in targets:
        asyncio.run(load(target.url, target.headers, 2, concurrency))  # warm-up
    for round_ in range(rounds):
        for target in targets:
            r = target.result
            cpu_before = tree_cpu(target.pid)
            count, errors, latencies, elapsed = asyncio.run(
                load(target.url, target.headers, seconds / rounds, concurrency)
            )
            cpu_ms = (tree_cpu(target.pid) - cpu_before) * 1000
            r.requests, r.errors, r.seconds = r.requests + count, r.errors + errors, r.seconds + elapsed
            r.latencies_ms += latencies
            r.server_cpu_ms += cpu_ms
            r.rounds_cpu_ms.append(cpu_ms / max(1, count))
        print(f"round {round_ + 1}/{rounds}: " + ", ".join(
            f"{t.name[:3]} {t.result.rounds_cpu_ms[-1]:.2f}" for t in targets
        ) + " CPU-ms/call", flush=True)  # fmt: skip
    for target in targets:
        r = target.result
        _, _, r.alone_ms, _ = asyncio.run(load(target.url, target.headers, min(seconds, 5), 1))
        print(
            f"{r.name:<42} {r.rps:6.0f} req/s  p50 {r.pct(0.5):6.1f} ms  p99 {r.pct(0.99):6.1f} ms  "
            f"server CPU {r.cpu_per_call:5.2f} ms/call  errors {r.errors}  "
            f"alone p50 {r.pct(0.5, r.alone_ms):5.1f} ms p99 {r.pct(0.99, r.alone_ms):5.1f} ms",
            flush=True,
        )


def register_pro_users(settings, emails: list[str]) -> None:
    """Verified pro users with the bench password, registered as the API registers them."""
    from api.auth import service as auth
    from api.core.db import Database
    from api.core.types import utcnow
    from api.events.outbox import RequestContext

    async def register() -> None:
        db = Database(settings)
        async with db.sessionmaker() as session:
            for email in emails:
                await auth.register(
                    session, settings, email=email, password="bench-password-123", country="DE",
                    ctx=RequestContext(), at=utcnow(), verified=True, plan="pro",
                )  # fmt: skip
        await db.dispose()

    asyncio.run(register())


def setup_aiadmin(upstream: str) -> tuple[str, dict]:
    """A fresh PostgreSQL database: migrated, the upstream as a provider, a pro user with credits."""
    import psycopg
    from sqlalchemy import update
    from sqlalchemy.engine import make_url

    from api.accounts.models import Account, Plan
    from api.catalogue.models import ModelRoute, Provider
    from api.core.db import make_sync_engine
    from api.core.migrate import upgrade
    from api.core.settings import Settings
    from api.core.types import utcnow

    name = "aiadmin_bench"
    admin_url = make_url(PG).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG).set(database=name).render_as_string(hide_password=False)
    settings = Settings(
        database_url=url, environment="test", secret_key="bench-secret-key-0123456789-abcdefghij"
    )
    upgrade(settings)

    def db_execute(*statements) -> None:
        engine = make_sync_engine(settings)
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(statement)
        engine.dispose()

    db_execute(
        Provider.__table__.insert().values(
            id="upstream",
            kind="openai_compatible",
            display_name="mock over HTTP",
            base_url=f"{upstream}/v1",
            api_key_encrypted=None,
            priority=1,
            timeout_seconds=30,
            max_retries=0,
            enabled=True,
            created_at=utcnow(),
        ),
        ModelRoute.__table__.insert().values(
            model_id="mock-large", provider_id="upstream", provider_model="mock-large"
        ),
        update(Plan)
        .where(Plan.code == "pro")
        .values(daily_requests=10**9, tokens_per_day=None, tokens_per_month=None),
    )

    register_pro_users(settings, ["bench@example.com"])
    db_execute(update(Account).values(balance=10**9))
    return url, {
        "AIADMIN_DATABASE_URL": url,
        "AIADMIN_SECRET_KEY": settings.secret_key.get_secret_value(),
        "AIADMIN_ENVIRONMENT": "test",
        "AIADMIN_ALLOWED_PRIVATE_NETWORKS": "127.0.0.1",  # the mock upstream (api/core/egress.py)
    }


def litellm_ready() -> Path | None:
    """LiteLLM's proxy from its own virtualenv, holding requirements/litellm.txt and nothing else."""
    try:
        print("LiteLLM from requirements/litellm.txt in bench/.venv-litellm …", flush=True)
        return pinned_venv(LITELLM_VENV, LITELLM_REQUIREMENTS).with_name("litellm")
    except PinnedVenvError as error:
        print(f"LiteLLM could not be installed:\n{error}", file=sys.stderr)
        return None


LITELLM_AUTH = {"Authorization": "Bearer sk-bench-master"}


def start_litellm(
    binary: Path, upstream: str, model: str, config_name: str, settings: str = ""
) -> tuple[subprocess.Popen, str]:
    """LiteLLM's proxy on loopback serving `model` from the upstream (`settings`: its litellm_settings
    YAML, if any), once it answers; its process and base URL."""
    config = ROOT / "bench" / config_name
    config.write_text(
        f"model_list:\n  - model_name: {model}\n    litellm_params:\n"
        f"      model: openai/{model}\n      api_base: {upstream}/v1\n      api_key: not-needed\n{settings}"
    )
    port = free_port()
    proc = start(
        [str(binary), "--config", str(config), "--port", str(port), "--host", "127.0.0.1"],
        env={
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_MASTER_KEY": "sk-bench-master",
            "DISABLE_ADMIN_UI": "True",
            "LITELLM_LOG": "ERROR",
        },
        log="litellm",
    )
    wait_ready(f"http://127.0.0.1:{port}/health/liveliness", seconds=180)
    return proc, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30, help="under load, per target, in all")
    parser.add_argument("--rounds", type=int, default=5, help="turns the load time is split into")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--install-only", action="store_true", help="make LiteLLM's virtualenv and stop")
    args = parser.parse_args()
    if args.install_only:
        sys.exit(0 if litellm_ready() else 1)
    sys.path.insert(0, str(ROOT))
    procs: list[subprocess.Popen] = []
    targets: list[Target] = []
    uvicorn = str(Path(PY).with_name("uvicorn"))
    quiet = ["--no-access-log", "--log-level", "warning"]
    try:
        mock_port = free_port()
        mock = start([PY, "-m", "api.providers.mock_server", "--port", str(mock_port)], log="mock")
        procs.append(mock)
        upstream = f"http://127.0.0.1:{mock_port}"
        wait_ready(f"{upstream}/v1/models")
        targets.append(Target("(a) mock upstream, direct", f"{upstream}/v1/chat/completions", {}, mock.pid))

        floor_port = free_port()
        floor = start(
            [uvicorn, "bench.passthrough:app", "--port", str(floor_port), *quiet],
            env={"AIADMIN_BENCH_UPSTREAM": upstream, "PYTHONPATH": str(ROOT)},
            log="passthrough",
        )
        procs.append(floor)
        wait_ready(f"http://127.0.0.1:{floor_port}/docs")
        targets.append(
            Target(
                "(d) FastAPI relay alone (no auth, no DB)",
                f"http://127.0.0.1:{floor_port}/v1/chat/completions",
                {},
                floor.pid,
            )
        )

        _, env = setup_aiadmin(upstream)
        api_port = free_port()
        api = start(
            [uvicorn, "api.main:app", "--port", str(api_port), *quiet],
            env={**env, "PYTHONPATH": str(ROOT)},
            log="aiadmin",
        )
        procs.append(api)
        base = f"http://127.0.0.1:{api_port}"
        wait_ready(f"{base}/health")
        token = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": "bench@example.com", "password": "bench-password-123"}
        ).json()["access_token"]
        targets.append(
            Target(
                "(b) aiadmin, PostgreSQL, paid model",
                f"{base}/v1/chat/completions",
                {"Authorization": f"Bearer {token}"},
                api.pid,
            )
        )

        if not args.skip_litellm and (binary := litellm_ready()):
            lite, lite_base = start_litellm(binary, upstream, "mock-large", ".litellm.yaml")
            procs.append(lite)
            targets.append(
                Target(
                    "(c) LiteLLM proxy (no database)",
                    f"{lite_base}/v1/chat/completions",
                    LITELLM_AUTH,
                    lite.pid,
                )
            )
        measure(targets, args.seconds, args.rounds, args.concurrency)
    finally:
        for proc in reversed(procs):
            stop(proc)
    write_results(sorted((t.result for t in targets), key=lambda r: r.name), args)


def write_results(results: list[Result], args) -> None:
    direct = results[0]
    lines = [
        "## Gateway",
        "",
        f"`bench/gateway.py`, {args.concurrency} concurrent clients, {args.seconds:.0f} s per target after "
        f"a 2 s warm-up, in {args.rounds} rounds taking the targets in turn (the machine's speed drifts from "
        "minute to minute: this way it weighs on every target alike), "
        f"on this machine ({os.cpu_count()} cores; load generator, servers and PostgreSQL share them). "
        "Server CPU is the server process tree's user + system time over the run, per successful call. "
        "At 32 clients every server is saturated, so its latency is mostly queueing (32 / throughput); "
        "the last columns are one client alone for 5 s: the time a call spends in the server, and "
        "(added) what it adds to the direct call.",
        "",
        "| target | req/s | p50 ms | p99 ms | server CPU ms/call | errors "
        "| alone p50 ms | alone p99 ms | added p99 ms (alone) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        added = r.pct(0.99, r.alone_ms) - direct.pct(0.99, direct.alone_ms)
        lines.append(
            f"| {r.name} | {r.rps:.0f} | {r.pct(0.5):.1f} | {r.pct(0.99):.1f} | {r.cpu_per_call:.2f} | "
            f"{r.errors} | {r.pct(0.5, r.alone_ms):.1f} | {r.pct(0.99, r.alone_ms):.1f} | {added:.1f} |"
        )
    lines += [
        "",
        f"(a) is also the load generator's ceiling: {direct.rps:.0f} req/s against the cheapest server.",
        "(d) is the floor under any FastAPI gateway here: FastAPI on uvicorn relaying the call with the same "
        "aiohttp client, with no authentication, database, quota, billing or events "
        "(`bench/passthrough.py`).",
        "",
    ]
    lite = next((r for r in results if r.name.startswith("(c)")), None)
    aiadmin = next((r for r in results if r.name.startswith("(b)")), None)
    floor = next((r for r in results if r.name.startswith("(d)")), None)
    if lite and aiadmin and floor:
        per_round = sorted(a / b for a, b in zip(aiadmin.rounds_cpu_ms, lite.rounds_cpu_ms, strict=True))
        lines += [
            f"Target: aiadmin's CPU per call at most a fifth of LiteLLM's: {lite.cpu_per_call / 5:.2f} ms. "
            f"aiadmin: {aiadmin.cpu_per_call:.2f} ms ({aiadmin.cpu_per_call / lite.cpu_per_call:.3f} of "
            f"LiteLLM's), **{'met' if aiadmin.cpu_per_call <= lite.cpu_per_call / 5 else 'not met'}**; "
            f"round by round {', '.join(f'{x:.3f}' for x in per_round)}. "
            f"The bare FastAPI relay alone costs {floor.cpu_per_call:.2f} ms "
            f"({floor.cpu_per_call / lite.cpu_per_call:.3f} of LiteLLM's).",
            "",
        ]
    write_section("Gateway", lines)


if __name__ == "__main__":
    main()

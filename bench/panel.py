"""Time every panel page a staff member sees, cold and warm, on a serving copy of the pipeline benchmark.

    .venv/bin/python bench/panel.py --serving PATH [--database URL] [--runs 5] [--role admin]
    .venv/bin/python bench/panel.py --events 1000000 [--runs 5]   # builds the serving copy first

Without --serving it first runs `bench/pipeline.py --events N --keep` (which also rewrites the "Pipeline"
section of bench/RESULTS.md), uses the serving copy it keeps and the PostgreSQL database it filled
(`aiadmin_bench_pipeline`: N usage events, their users), so the people pages (users, requests) page over
real volumes too. The API runs as `make run` starts it (uvicorn, its own port), against that database
(--database; a fresh SQLite one if none), with one staff member of --role created by `aiadmin
create-admin`, enrolled in TOTP (every staff role must be) and signed in with a code, as the panel signs in.

Each page the role may open (dashboard/app.py `PAGES`, filtered by the permissions the API gives the role)
is rendered by Streamlit's AppTest in this process, as the panel tests render it (tests/dashboard/conftest.py
`panel`): the page script run to the end with the signed-in session, its warehouse queries run on the
serving copy in this process and its API calls sent to the live API. Not timed: the browser drawing the
result, and the router's `/api/v1/me` call per interaction (one small request).

cold: the page's first render after the panel's caches are emptied (st.cache_data, and the open DuckDB
instance on the serving copy, so the file is attached again); the operating system's file cache stays warm.
warm: the median of --runs renders after that, each a new session (a second analyst), the caches full.
One discarded render of the Overview comes first, so no page pays the process's imports.
AppTest's own cost (a one-line page, rendered before and after the pages) is printed, and each page's warm
median less it is written beside it. Each size writes its own section of bench/RESULTS.md ("Panel at N
events"): with --serving, give --events the size the copy was built with.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import duckdb
import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from results import write_section  # noqa: E402

PASSWORD = "bench-staff-password-0123"
PIPELINE_DB = "aiadmin_bench_pipeline"  # bench/pipeline.py `DB_NAME`
PG = os.environ.get("AIADMIN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_WARM_SECONDS = 1.0  # every page, warm
TARGET_COLD_OVERVIEW_SECONDS = 1.5  # the Overview, cold
TARGET_EVENTS = 10_000_000


@dataclass
class PageTiming:
    page: str
    permission: str
    cold: float = 0.0
    warm: list[float] = field(default_factory=list)
    load: float = 0.0  # the 1-minute load average once the page's renders are done
    problems: list[str] = field(default_factory=list)

    @property
    def warm_median(self) -> float:
        return statistics.median(self.warm)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_serving(events: int) -> Path:
    print(f"building a {events:,}-event serving copy with bench/pipeline.py --keep …", flush=True)
    output = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "pipeline.py"), "--events", str(events), "--keep"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    kept = re.findall(r"^kept (.+)$", output, re.MULTILINE)
    return Path(kept[-1]) / "serving.duckdb"


def pipeline_database() -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG).set(database=PIPELINE_DB).render_as_string(hide_password=False)


def page_permissions() -> dict[str, str]:
    """dashboard/app.py `PAGES` (page → the permission it needs), read without running the router."""
    tree = ast.parse((ROOT / "dashboard" / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "PAGES" for t in node.targets):
            return {name: entry[2] for name, entry in ast.literal_eval(node.value).items()}
    raise RuntimeError("dashboard/app.py has no PAGES")


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def start_api(env: dict[str, str], email: str, role: str) -> tuple[subprocess.Popen, str]:
    subprocess.run([str(BIN / "aiadmin"), "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [str(BIN / "aiadmin"), "create-admin", "--email", email, "--password", PASSWORD, "--role", role],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    api = subprocess.Popen(
        [str(BIN / "uvicorn"), "api.main:app", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/health")
    return api, url


def sign_in(api: str, email: str):
    """Enrol in TOTP as a person does (a password sign-in, a new key, a first code), then sign in with the
    next code as the panel does: the StaffSession the panel keeps."""
    import pyotp

    from dashboard.api_client import ApiClient

    with httpx.Client(base_url=api, timeout=60) as http:
        login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        setup = http.post("/api/v1/auth/2fa/setup", headers=headers)
        setup.raise_for_status()
        totp = pyotp.TOTP(setup.json()["secret"])
        enabled = http.post(
            "/api/v1/auth/2fa/enable", headers=headers, json={"code": totp.now(), "password": PASSWORD}
        )
        enabled.raise_for_status()
    from datetime import UTC, datetime

    # The code just used may not be used again: the next one (the API accepts one step ahead).
    return ApiClient(api).login(email, PASSWORD, totp.at(datetime.now(UTC) + timedelta(seconds=30)))


def clear_caches() -> None:
    import streamlit as st

    from warehouse import queries

    st.cache_data.clear()
    with queries._OPEN_LOCK:
        queries._OPEN.clear()


def render(page: str, staff) -> tuple[float, list[str]]:
    """One render of the page in a new session: seconds, and what went wrong (exceptions, errors shown)."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "dashboard" / "app_pages" / f"{page}.py"), default_timeout=300)
    app.session_state["staff"] = staff
    app.session_state["locale"] = "en"
    started = time.perf_counter()
    app.run()
    seconds = time.perf_counter() - started
    problems = [str(e.value)[:120] for e in app.exception] + [str(e.value)[:120] for e in app.error]
    return seconds, problems


def harness_renders(runs: int) -> list[float]:
    """AppTest's own cost: renders of a one-line page (no API call, no query), in seconds."""
    from streamlit.testing.v1 import AppTest

    seconds = []
    for _ in range(runs):
        app = AppTest.from_string("import streamlit as st\nst.write('bench')", default_timeout=60)
        started = time.perf_counter()
        app.run()
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serving", type=Path, help="a published serving copy (else one is built)")
    parser.add_argument("--events", type=int, default=1_000_000, help="events to build it with")
    parser.add_argument(
        "--database", help="the API's database (default: the pipeline's when it is built, else SQLite)"
    )
    parser.add_argument("--runs", type=int, default=5, help="warm renders per page")
    parser.add_argument("--role", default="admin", help="the staff role to sign in as")
    args = parser.parse_args()
    if args.serving is None:
        args.serving = build_serving(args.events)
        args.database = args.database or pipeline_database()
    data_dir = Path(tempfile.mkdtemp(prefix="aiadmin-bench-panel-"))
    shutil.copy(args.serving, data_dir / "serving.duckdb")
    with duckdb.connect(str(data_dir / "serving.duckdb"), read_only=True) as warehouse:
        calls = warehouse.execute("SELECT sum(calls) FROM marts.mart_usage_daily").fetchone()[0] or 0
    email = f"bench-{args.role}-{os.getpid()}@bench.example.com"
    env = {**os.environ, "AIADMIN_DATA_DIR": str(data_dir), "AIADMIN_ENVIRONMENT": "development",
           "AIADMIN_BACKGROUND_JOBS": "false"}  # fmt: skip
    env.pop("AIADMIN_DATABASE_URL", None)
    if args.database:
        env["AIADMIN_DATABASE_URL"] = args.database
    api_process, api = start_api(env, email, args.role)
    os.environ.update({"AIADMIN_DATA_DIR": str(data_dir), "AIADMIN_API_URL": api})
    loads = [os.getloadavg()[0]]
    timings: list[PageTiming] = []
    try:
        staff = sign_in(api, email)
        pages = {p: perm for p, perm in page_permissions().items() if perm in staff.permissions}
        render("overview", staff)  # the process's imports, discarded
        floors = harness_renders(args.runs)  # before the pages and after them: the load drifts
        print(f"AppTest floor (a one-line page): {statistics.median(floors):.2f} s", flush=True)
        for page, permission in pages.items():
            timing = PageTiming(page, permission)
            clear_caches()
            timing.cold, timing.problems = render(page, staff)
            for _ in range(args.runs):
                seconds, problems = render(page, staff)
                timing.warm.append(seconds)
                timing.problems += [p for p in problems if p not in timing.problems]
            timing.load = os.getloadavg()[0]
            timings.append(timing)
            loads.append(timing.load)
            print(
                f"{page:<15} cold {timing.cold:6.2f} s  warm {timing.warm_median:6.2f} s"
                + (f"  PROBLEMS {timing.problems}" if timing.problems else ""),
                flush=True,
            )
        floors += harness_renders(args.runs)
    finally:
        api_process.terminate()
        api_process.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
    report(args, timings, calls, loads, statistics.median(floors))


def report(args, timings: list[PageTiming], calls: int, loads: list[float], floor: float) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    overview = next((t for t in timings if t.page == "overview"), None)
    slowest = max(timings, key=lambda t: t.warm_median)
    database = "PostgreSQL (the pipeline's database)" if args.database else "a fresh SQLite database"
    lines = [
        f"## Panel at {args.events:,} events",
        "",
        f"`bench/panel.py {' '.join(sys.argv[1:])}` on the serving copy of "
        f"`bench/pipeline.py --events {args.events:,} --keep` ({calls:,} LLM calls "
        f"in the marts); the API on {database}. Every page the {args.role} may open, rendered by Streamlit's "
        "AppTest in the bench process (the page script run to the end with a TOTP-signed-in session; "
        "warehouse queries on the serving copy, API calls over HTTP to a live uvicorn). The browser's "
        "drawing is not timed. cold: the first render after the panel's caches (st.cache_data, the open "
        f"DuckDB instance) are emptied; warm: median of {args.runs} renders in new sessions, caches full. "
        f"Load average (1 min) during the run: {min(loads):.1f} to {max(loads):.1f} on 2 cores (other work, "
        "e.g. the CI suite, may share the machine). AppTest's own cost, a one-line page rendered the same "
        f"way, is {floor:.2f} s (median of {2 * args.runs} renders, before and after the pages): it is "
        "inside every figure below; the page's own share is the warm median less that (never below zero). "
        "load: the 1-minute load average when the page's renders were done.",
        "",
        "| page | permission | cold s | warm s (median) | warm max s | warm less AppTest s | load "
        "| problems |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in timings:
        lines.append(
            f"| {t.page} | {t.permission} | {t.cold:.2f} | {t.warm_median:.2f} | {max(t.warm):.2f} | "
            f"{max(0.0, t.warm_median - floor):.2f} | {t.load:.1f} | {'; '.join(t.problems) or '—'} |"
        )
    lines += [
        "",
        f"Targets (issue 17, for {TARGET_EVENTS:,} events): every page warm ≤ {TARGET_WARM_SECONDS:.1f} s — "
        f"at {args.events:,} events {verdict(slowest.warm_median <= TARGET_WARM_SECONDS)} (slowest: "
        f"{slowest.page}, {slowest.warm_median:.2f} s); the Overview cold ≤ "
        f"{TARGET_COLD_OVERVIEW_SECONDS:.1f} s — at {args.events:,} events "
        + (
            f"{verdict(overview.cold <= TARGET_COLD_OVERVIEW_SECONDS)} ({overview.cold:.2f} s)."
            if overview
            else "not measured (the role does not see it)."
        ),
    ]
    if args.events < TARGET_EVENTS:
        lines.append(
            f"These are for {args.events:,} events; the targets are for {TARGET_EVENTS:,} (their own "
            f'section, "Panel at {TARGET_EVENTS:,} events", when measured).'
        )
    lines.append("")
    write_section(f"Panel at {args.events:,} events", lines)


if __name__ == "__main__":
    main()

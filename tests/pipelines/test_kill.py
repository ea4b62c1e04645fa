"""A refresh killed with SIGKILL while dbt builds, then run again, gives exact totals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from sqlalchemy import func, select

from api.core.db import make_sync_engine
from api.events.models import UsageEvent
from tests.support import completion_body, sign_up


def _descendant_running(root: int, *words: str) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if all(any(w.encode() in a for a in argv) for w in words) and parent in _family(root):
            return True
    return False


def _family(root: int) -> set[int]:
    family, changed = {root}, True
    while changed:
        changed = False
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) not in family:
                try:
                    parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if parent in family:
                    family.add(int(entry.name))
                    changed = True
    return family


def test_a_run_killed_during_dbt_build_then_rerun_gives_exact_totals(
    env_settings, client, warehouse_settings, pipeline
):
    headers = sign_up(client, "ada@example.com")
    for _ in range(3):
        client.post("/v1/chat/completions", headers=headers, json=completion_body())
    pipeline()
    headers = sign_up(client, "bob@example.com")
    for _ in range(2):
        client.post("/v1/chat/completions", headers=headers, json=completion_body())

    child = subprocess.Popen(
        [sys.executable, "-m", "aiadmin.cli", "pipeline", "run"],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not _descendant_running(child.pid, "dbt", "build"):
        assert child.poll() is None and time.monotonic() < deadline, "dbt build never started"
        time.sleep(0.1)
    time.sleep(2)  # well inside the build
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()

    result = pipeline()
    assert result.success
    engine = make_sync_engine(env_settings)
    try:
        with engine.connect() as conn:
            events = conn.execute(select(func.count()).select_from(UsageEvent.__table__)).scalar_one()
            calls = conn.execute(
                select(func.count()).where(UsageEvent.type.in_(["llm.call_succeeded", "llm.call_failed"]))
            ).scalar_one()
    finally:
        engine.dispose()
    with duckdb.connect(str(warehouse_settings.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.usage_events").fetchone()[0] == events
    with duckdb.connect(str(warehouse_settings.serving_path), read_only=True) as con:
        assert con.execute("SELECT sum(calls) FROM marts.mart_usage_daily").fetchone()[0] == calls == 5
        assert con.execute("SELECT count(*) FROM marts.fct_llm_calls").fetchone()[0] == 5
        assert con.execute("SELECT sum(completions) FROM marts.fct_user_days").fetchone()[0] == 5

"""The extract's ceiling: how fast PostgreSQL itself can hand out usage events, next to the extract.

    .venv/bin/python bench/extract_ceiling.py [--events 1000000] [--repeat 3]

Generates the events as bench/pipeline.py does (a fresh database), then times, best of `--repeat`:
PostgreSQL's own `COPY … TO STDOUT` of the bare table and of the extract's query, binary and text, read
by psql into /dev/null (no parsing, nothing stored: the server's side alone); and the pipeline's extract
(pipelines/extract.py) into a fresh warehouse. Writes the section "Extract ceiling" of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pipeline as bench
from results import write_section

from pipelines.extract import _PG_SELECT, extract_usage_events
from pipelines.resources import OltpResource, WarehouseResource


def best_rate(events: int, repeat: int, run) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return events / best


def copy(libpq: str, query: str, fmt: str) -> None:
    statement = f"COPY ({query}) TO STDOUT (FORMAT {fmt})"
    subprocess.run(["psql", libpq, "-c", statement], stdout=subprocess.DEVNULL, check=True)


def copy_parallel(libpq: str, streams: int) -> None:
    """The bare table in `streams` id ranges at once, one COPY (one server process) each."""
    bounds = "SELECT min(id), max(id) + 1 FROM usage_events"
    low, high = map(int, subprocess.run(["psql", libpq, "-Atc", bounds], capture_output=True, text=True,
                                        check=True).stdout.strip().split("|"))  # fmt: skip
    step = (high - low) // streams + 1
    part = "COPY (SELECT * FROM usage_events WHERE id >= {} AND id < {}) TO STDOUT (FORMAT binary)"
    procs = [
        subprocess.Popen(["psql", libpq, "-c", part.format(lo, lo + step)], stdout=subprocess.DEVNULL)
        for lo in range(low, high, step)
    ]
    if any(proc.wait() != 0 for proc in procs):
        raise RuntimeError("a COPY failed")


def extract(url: str) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        warehouse = WarehouseResource(
            warehouse_path=f"{workdir}/warehouse.duckdb", serving_path=f"{workdir}/serving.duckdb"
        )
        stats = extract_usage_events(OltpResource(database_url=url), warehouse)
        assert stats["inserted"] == stats["read"] > 0, stats


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    url = bench.setup_database()
    now = datetime.now(UTC)
    since = now - timedelta(days=90)
    bench.generate(url, args.events, bench.users_for(args.events), since, since, now, True)
    bench.vacuum(url)
    libpq = bench._libpq(url)
    query = " ".join(_PG_SELECT.replace("%s::text::xid8", "'0'::xid8").split())
    copy_of = "PostgreSQL `COPY {} TO STDOUT (FORMAT {})`"
    rates = [
        (copy_of.format("usage_events", "binary"), lambda: copy(libpq, "TABLE usage_events", "binary")),
        (copy_of.format("usage_events", "binary") + ", 2 streams at once (id halves)",
         lambda: copy_parallel(libpq, 2)),
        (copy_of.format("(<the extract's query>)", "binary"), lambda: copy(libpq, query, "binary")),
        (copy_of.format("(<the extract's query>)", "text"), lambda: copy(libpq, query, "text")),
        ("the pipeline's extract (ADBC → Arrow → DuckDB, one transaction)", lambda: extract(url)),
    ]  # fmt: skip
    lines = [
        "## Extract ceiling",
        "",
        f"`bench/extract_ceiling.py --events {args.events} --repeat {args.repeat}`, on this machine "
        "(2 cores). "
        "The COPY rows are PostgreSQL's own output read by psql into /dev/null: no client parsing, nothing "
        "stored, so no extract from this server can beat them. Best of the repeats.",
        "",
        "| what | events/s |",
        "| --- | --- |",
    ]
    for label, run in rates:
        rate = best_rate(args.events, args.repeat, run)
        print(f"{label}: {rate:,.0f} events/s", flush=True)
        lines.append(f"| {label} | {rate:,.0f} |")
    write_section("Extract ceiling", [*lines, ""])


if __name__ == "__main__":
    main()

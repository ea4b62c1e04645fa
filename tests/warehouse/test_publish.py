from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from warehouse.exports import to_csv_bytes, to_xlsx_bytes
from warehouse.publish import publish
from warehouse.queries import ServingNotReady, daily_usage


def _build(path, rows: list[tuple]) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute("CREATE SCHEMA IF NOT EXISTS staging")
        con.execute(
            "CREATE OR REPLACE TABLE marts.daily_usage "
            "(day DATE, active_users BIGINT, completions BIGINT, input_tokens BIGINT, output_tokens BIGINT)"
        )
        con.execute("CREATE OR REPLACE TABLE staging.scratch AS SELECT 1 AS x")
        con.executemany("INSERT INTO marts.daily_usage VALUES (?, ?, ?, ?, ?)", rows)


def test_reading_before_any_publication_says_the_pipeline_has_not_run(tmp_path):
    with pytest.raises(ServingNotReady, match="aiadmin pipeline run"):
        daily_usage(path=tmp_path / "serving.duckdb")


def test_publish_copies_only_the_marts_and_a_reader_of_the_old_copy_keeps_reading(tmp_path):
    source, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving.duckdb"
    _build(source, [("2026-11-01", 1, 2, 3, 4)])
    publication = publish(source, serving)
    assert publication.tables == ["marts.daily_usage"]

    old_reader = duckdb.connect(str(serving), read_only=True)
    _build(source, [("2026-11-01", 1, 2, 3, 4), ("2026-11-02", 5, 6, 7, 8)])
    publish(source, serving)

    assert old_reader.execute("SELECT count(*) FROM marts.daily_usage").fetchone()[0] == 1
    old_reader.close()
    assert list(daily_usage(path=serving)["active_users"]) == [1, 5]
    with duckdb.connect(str(serving), read_only=True) as con:
        schemas = {
            r[0] for r in con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
        }
    assert "staging" not in schemas
    assert not list(tmp_path.glob(".*.tmp"))


def test_exports_round_trip_what_the_user_sees(tmp_path):
    from openpyxl import load_workbook

    frame = pd.DataFrame({"day": pd.to_datetime(["2026-11-01"]).date, "active_users": [3]})
    assert to_csv_bytes(frame).decode().splitlines() == ["day,active_users", "2026-11-01,3"]
    path = tmp_path / "export.xlsx"
    path.write_bytes(to_xlsx_bytes(frame, "daily_usage"))
    sheet = load_workbook(path)["daily_usage"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("day", "active_users")
    assert rows[1][0].date().isoformat() == "2026-11-01" and rows[1][1] == 3


def test_an_xlsx_export_shows_control_characters_as_replacement_marks(tmp_path):
    # openpyxl refuses a row holding one (a role or model name may): the panel's download crashed.
    from openpyxl import load_workbook

    frame = pd.DataFrame({"role\x07": ["fix\x01grammar", "ok"], "calls": [2, 1]})
    path = tmp_path / "export.xlsx"
    path.write_bytes(to_xlsx_bytes(frame))
    rows = list(load_workbook(path)["data"].iter_rows(values_only=True))
    assert rows == [("role\ufffd", "calls"), ("fix\ufffdgrammar", 2), ("ok", 1)]


_PUBLISH_FOREVER = """
import sys
from pathlib import Path
from warehouse.publish import publish
print("publishing", flush=True)
while True:
    publish(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def test_a_publish_killed_at_any_moment_leaves_the_last_copy_whole_and_the_next_one_cleans_up(tmp_path):
    import os
    import subprocess
    import sys

    from tests.support.processes import SteppedProcess

    source, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving.duckdb"
    _build(source, [(f"2026-01-{d:02d}", d, d, d, d) for d in range(1, 29)])
    with duckdb.connect(str(source)) as con:  # a copy that takes a while, to be killed inside
        con.execute("CREATE TABLE marts.wide AS SELECT range AS x, range * 2 AS y FROM range(2000000)")
    publish(source, serving)

    def copying(child: SteppedProcess) -> bool:  # its new copy is being written
        return (tmp_path / f".serving.duckdb.{child.pid}.tmp").exists()

    def between(child: SteppedProcess) -> bool:  # it has renamed a copy into place, the next not begun
        return os.stat(serving).st_ino != child.serving_inode and not copying(child)

    left_behind = []
    # Each kill lands at its moment, the child frozen there (SIGSTOP) when the moment is seen.
    for moment in (copying, between, copying, between):
        child = SteppedProcess(
            subprocess.Popen(
                [sys.executable, "-c", _PUBLISH_FOREVER, str(source), str(serving)],
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": os.getcwd()},
                start_new_session=True,
            )
        )
        child.serving_inode = os.stat(serving).st_ino
        try:
            assert child.process.stdout.readline() == "publishing\n"
            assert child.stop_at(near=lambda child: True, at=moment, timeout=120), moment.__name__
        finally:
            assert child.kill() == []
        assert len(daily_usage(path=serving)) == 28  # whole, whichever copy it is
        left_behind += tmp_path.glob(".serving.duckdb.*.tmp")  # (the next child's publish clears it)
    publish(source, serving)
    assert left_behind  # the kills did interrupt copies
    assert not list(tmp_path.glob(".serving.duckdb.*.tmp"))
    assert len(daily_usage(path=serving)) == 28


def test_a_publish_onto_a_full_disk_fails_keeps_the_serving_copy_and_leaves_no_partial_copy(tmp_path):
    """`make test`'s smoke of the full-disk suite (tests/reliability/test_disk_full.py, `make test-long`): the
    serving copy's disk is a real one, a small tmpfs, too small for the next copy."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "aiadmin-publish-full", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode:
        pytest.skip(f"a small disk needs `mount -t tmpfs` (root, CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        source, serving = tmp_path / "warehouse.duckdb", disk / "serving.duckdb"
        _build(source, [(f"2026-01-{d:02d}", d, d, d, d) for d in range(1, 29)])
        publish(source, serving)
        with duckdb.connect(str(source)) as con:  # a mart that no longer fits: 16 MB of random text
            con.execute("CREATE TABLE marts.wide AS SELECT md5(random()::VARCHAR) AS y FROM range(500000)")

        with pytest.raises((OSError, duckdb.Error), match=r"(?i)no space left"):
            publish(source, serving)
        assert len(daily_usage(path=serving)) == 28  # the last good copy, whole
        assert sorted(p.name for p in disk.iterdir()) == ["serving.duckdb"]  # no partial copy takes space

        with duckdb.connect(str(source)) as con:  # once it fits again, the next publish goes through
            con.execute("DROP TABLE marts.wide")
            con.execute("INSERT INTO marts.daily_usage VALUES ('2026-01-29', 29, 29, 29, 29)")
        publish(source, serving)
        assert len(daily_usage(path=serving)) == 29
    finally:  # (lazily, if the query layer still holds the serving copy open)
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(disk)], check=True)

"""`aiadmin export-marts DIR`: every mart of the serving copy as a Parquet file."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq

from aiadmin.cli import main
from tests.support.api import completion_body, sign_up


def test_export_marts_writes_one_parquet_file_per_mart_with_all_its_rows(
    env_settings, client, warehouse_settings, pipeline, tmp_path, capsys
):
    assert main(["export-marts", str(tmp_path / "early")]) == 1  # nothing published yet
    assert "run `aiadmin pipeline run`" in capsys.readouterr().err

    client.post("/v1/chat/completions", headers=sign_up(client, "ada@example.com"), json=completion_body())
    pipeline()
    out = tmp_path / "marts"
    assert main(["export-marts", str(out)]) == 0

    with duckdb.connect(str(warehouse_settings.serving_path), read_only=True) as con:
        listed = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'")
        marts = [row[0] for row in listed.fetchall()]
        counts = {t: con.execute(f'SELECT count(*) FROM marts."{t}"').fetchone()[0] for t in marts}
    assert {p.stem for p in out.glob("*.parquet")} == set(marts) and len(marts) > 10
    assert not list(out.glob(".*"))  # no partial file left behind
    for table, rows in counts.items():
        assert pq.read_metadata(out / f"{table}.parquet").num_rows == rows
    assert counts["fct_llm_calls"] == 1

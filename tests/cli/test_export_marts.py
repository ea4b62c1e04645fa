"""`aiadmin export-marts DIR`: every mart of the serving copy as a Parquet file."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq

from aiadmin.cli import main
from api.core.settings import get_settings
from tests.conftest import export_settings
from tests.support.world import CALLS, published_copy
from warehouse.settings import WarehouseSettings, get_warehouse_settings


def test_before_the_first_publish_export_marts_says_what_to_run(env_settings, tmp_path, capsys):
    assert main(["export-marts", str(tmp_path / "early")]) == 1
    assert "run `aiadmin pipeline run`" in capsys.readouterr().err
    assert not (tmp_path / "early").exists() or not list((tmp_path / "early").iterdir())


def test_export_marts_writes_one_parquet_file_per_mart_with_all_its_rows(
    published_template, tmp_path, monkeypatch, request
):
    settings = published_copy(published_template, tmp_path / "world")
    export_settings(settings, monkeypatch)
    request.addfinalizer(lambda: (get_settings.cache_clear(), get_warehouse_settings.cache_clear()))
    serving = WarehouseSettings(data_dir=settings.data_dir).serving_path
    out = tmp_path / "marts"
    assert main(["export-marts", str(out)]) == 0

    with duckdb.connect(str(serving), read_only=True) as con:
        listed = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'")
        marts = [row[0] for row in listed.fetchall()]
        counts = {t: con.execute(f'SELECT count(*) FROM marts."{t}"').fetchone()[0] for t in marts}
    assert {p.stem for p in out.glob("*.parquet")} == set(marts) and len(marts) > 10
    assert not list(out.glob(".*"))  # no partial file left behind
    for table, rows in counts.items():
        assert pq.read_metadata(out / f"{table}.parquet").num_rows == rows
    assert counts["fct_llm_calls"] == CALLS

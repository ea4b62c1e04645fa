"""The fast lane's functions in a migrated database are the `.sql` files in api/gateway/sql/, and a file
changed without a migration that installs it is refused."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import text

from api.core.db import make_sync_engine
from api.gateway import sql

DEFINITIONS = """
SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.proname = :name
"""


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_migrated_functions_are_the_sql_files_whitespace_aside(settings):
    files = sql.functions()
    assert {"gateway_take", "gateway_settle"} <= set(files)
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        installed = {name: conn.execute(text(DEFINITIONS), {"name": name}).scalars().all() for name in files}
    engine.dispose()
    for name, source in files.items():
        assert len(installed[name]) == 1, f"{name}: {len(installed[name])} functions of that name installed"
        assert sql.normalised(installed[name][0]) == sql.normalised(source), (
            f"{name}.sql is not what the migrations install: add a migration that installs it"
        )


def test_a_function_file_edited_without_a_migration_is_refused(tmp_path, monkeypatch):
    shutil.copytree(sql.HERE, tmp_path, dirs_exist_ok=True)
    monkeypatch.setattr(sql, "HERE", tmp_path)
    original = (tmp_path / "gateway_settle.sql").read_text()
    pinned = sql.digest(original)
    assert sql.as_of("gateway_settle", "0017", pinned) == original
    edited = original.replace("BEGIN", "BEGIN\n    PERFORM 1;", 1)
    assert sql.normalised(edited) != sql.normalised(original)
    (tmp_path / "gateway_settle.sql").write_text(edited)
    with pytest.raises(sql.ChangedWithoutMigration, match="add a migration"):
        sql.as_of("gateway_settle", "0017", pinned)
    # Its text as of 0017, frozen in history/, is what migration 0017 keeps installing.
    (tmp_path / "history").mkdir(exist_ok=True)
    (tmp_path / "history" / "gateway_settle@0017.sql").write_text(original)
    assert sql.as_of("gateway_settle", "0017", pinned) == original

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.core.settings import Settings


def test_production_refuses_to_start_with_the_default_secret_and_names_the_variable(monkeypatch):
    monkeypatch.delenv("AIADMIN_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="AIADMIN_SECRET_KEY"):
        Settings(environment="production")


def test_short_secret_is_refused():
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(secret_key="short")


def test_database_defaults_to_a_sqlite_file_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("AIADMIN_DATABASE_URL", raising=False)
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'aiadmin.db'}"
    assert repr(settings.secret_key) == "SecretStr('**********')"

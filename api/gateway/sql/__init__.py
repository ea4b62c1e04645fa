"""The fast lane's PL/pgSQL functions, one `.sql` file each, installed by migrations.

Each file is written as PostgreSQL prints the function back (`pg_get_functiondef`), so that
tests/api/gateway/test_sql_functions.py can hold a migrated database to the files, whitespace aside.

A migration installs a function as of its own revision: `as_of(name, revision, digest)` reads
`history/<name>@<revision>.sql` when that text was frozen there, else the current `<name>.sql`, and
refuses text whose digest is not the one the migration pinned. So a file edited without a migration
stops every migration run, with what to do ([0027](../../../docs/decisions/0027-one-bookkeeping-seam.md)):

1. copy the file as it is now (`git show HEAD:<path>`) to `history/<name>@<revision>.sql`, the revision
   being that of the last migration that installs it;
2. edit `<name>.sql`;
3. add a migration that installs it with `as_of(name, <its revision>, <the new digest>)`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

HERE = Path(__file__).parent


class ChangedWithoutMigration(RuntimeError):
    pass


def normalised(text: str) -> str:
    """The text with every run of whitespace as one space: what a comparison or a digest sees."""
    return " ".join(text.split())


def digest(text: str) -> str:
    return hashlib.sha256(normalised(text).encode()).hexdigest()


def functions() -> dict[str, str]:
    """Every function's current text, by name."""
    return {path.stem: path.read_text() for path in sorted(HERE.glob("*.sql"))}


def as_of(name: str, revision: str, pinned: str) -> str:
    """The text of function `name` that migration `revision` installs (its digest: `pinned`)."""
    frozen = HERE / "history" / f"{name}@{revision}.sql"
    path = frozen if frozen.exists() else HERE / f"{name}.sql"
    text = path.read_text()
    if digest(text) != pinned:
        raise ChangedWithoutMigration(
            f"{path} is not the text migration {revision} installs (digest {digest(text)}, pinned {pinned}). "
            f"To change a function: copy its text as of {revision} to history/{name}@{revision}.sql, "
            f"edit {name}.sql, and add a migration that installs it (docs/decisions/0027)."
        )
    return text

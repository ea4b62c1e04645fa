"""A secret that an install makes for itself: created once in a file only its owner may read.

Every process of the install (the API, its replicas on the same disk, the command line) reads the same
file. Two processes that start at once on a fresh install agree on one secret: each writes a candidate
to a private temporary file and hard-links it into place, which fails when the name already exists; the
loser reads the winner's file. The file is never seen half-written. See
docs/decisions/0036-generated-secret-key.md.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path


class KeyFileError(ValueError):
    """The key file cannot be used (readable by others, empty, or cannot be created)."""


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The secret held in `path`; when there is no such file yet, `make()`'s value, stored there (0600)."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, candidate = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    except OSError as exc:
        raise KeyFileError(f"cannot create {path} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w") as file:
            file.write(make() + "\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: its secret counts
            os.link(candidate, path)
        _sync_directory(path.parent)
    finally:
        os.unlink(candidate)
    return _read(path)


def _read(path: Path) -> str:
    with path.open() as file:
        mode = os.fstat(file.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(f"{path} is readable by other users: `chmod 600 {path}`")
        value = file.read().strip()
    if not value:
        raise KeyFileError(f"{path} is empty: delete it to have a new secret made")
    return value


def _sync_directory(directory: Path) -> None:
    """Make the new name durable (a crash must not lose a secret that tokens were already signed with)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""How fresh the serving copy is: its publication (a cheap stamp, changed by every publish) and the time it
was published. The panel keys its analytics caches on the stamp, so a page shows a new publication at its
next run and never waits for a timer, and every analytics page says "data as of" that time."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from warehouse.queries import ServingNotReady, connect_serving, serving_version
from warehouse.settings import get_warehouse_settings


@dataclass(frozen=True, slots=True)
class AsOf:
    stamp: str  # "" before the first publication
    published_at: datetime | None


_KNOWN: dict[tuple[str, str], datetime | None] = {}
_KNOWN_LOCK = threading.Lock()


def as_of(path: Path | None = None) -> AsOf:
    """The serving copy's publication now: one `stat`, and one small query the first time it is seen."""
    path = path or get_warehouse_settings().serving_path
    version = serving_version(path)
    if version is None:
        return AsOf("", None)
    stamp = f"{version[0]}-{version[1]}"
    key = (str(path), stamp)
    with _KNOWN_LOCK:
        if key in _KNOWN:
            return AsOf(stamp, _KNOWN[key])
    try:
        with connect_serving(path) as con:
            (value,) = con.execute("SELECT max(published_at) FROM main._publication").fetchone()
    except (ServingNotReady, duckdb.Error):  # replaced meanwhile: no time, the stamp still keys the caches
        return AsOf(stamp, None)
    published = value.replace(tzinfo=UTC) if value else None
    with _KNOWN_LOCK:
        if len(_KNOWN) > 64:
            _KNOWN.clear()
        _KNOWN[key] = published
    return AsOf(stamp, published)

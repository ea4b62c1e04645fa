"""Database engines and sessions.

The API runs on an async engine; the migration tool and the pipeline's extract use a sync engine on
the same URL. The URL a user sets names the database only (`sqlite:///…`, `postgresql://…`);
the drivers are chosen here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from api.core.settings import DatabaseSettings, Settings, get_settings

_DRIVERS = {
    "sqlite": ("sqlite+aiosqlite", "sqlite+pysqlite"),
    "postgresql": ("postgresql+psycopg", "postgresql+psycopg"),
}


class Base(DeclarativeBase):
    pass


def driver_url(url: str, *, asynchronous: bool) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise ValueError(f"AIADMIN_DATABASE_URL: unsupported database {backend!r} (use sqlite or postgresql)")
    drivername = _DRIVERS[backend][0 if asynchronous else 1]
    if backend == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return parsed.set(drivername=drivername).render_as_string(hide_password=False)


def _configure_sqlite(sync_engine: Engine, busy_timeout_ms: int, *, immediate: bool) -> None:
    """WAL and foreign keys; for the API's engine BEGIN IMMEDIATE, so concurrent writers queue instead of
    failing when a read transaction turns into a write. Readers (the extract) use a deferred BEGIN: in
    WAL mode they read a snapshot and never take the write lock."""

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_async_engine(settings: Settings) -> AsyncEngine:
    url = driver_url(settings.database_url, asynchronous=True)
    if settings.is_sqlite:
        engine = create_async_engine(url)
        _configure_sqlite(engine.sync_engine, settings.sqlite_busy_timeout_ms, immediate=True)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20)


def make_sync_engine(settings: DatabaseSettings, *, writer: bool = False) -> Engine:
    """A synchronous engine; `writer`: on SQLite its transactions begin IMMEDIATE, as the API's do (a
    deferred transaction that reads, then writes after another connection committed fails at once)."""
    url = driver_url(settings.database_url, asynchronous=False)
    engine = create_engine(url)
    if settings.is_sqlite:
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms, immediate=writer)
    return engine


class Database:
    """One async engine and its session factory, owned by the app (or a CLI command)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.engine = make_async_engine(self.settings)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_for(session: AsyncSession):
    """The dialect's INSERT construct (with ON CONFLICT), for the database the session is bound to."""
    return _INSERTS[session.bind.dialect.name]


async def flush_or(session: AsyncSession, refusal: Exception) -> None:
    """Flush the session's changes; when a concurrent change made them impossible (it took a unique or a
    foreign key first: IntegrityError), roll the session back and raise `refusal` (a clear 4xx) instead."""
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise refusal from None

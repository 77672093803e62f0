"""Async engine creation for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the receiver read while the worker writes; the busy timeout turns
    # writer contention into a short wait instead of "database is locked".
    # pysqlite's own transaction handling defers BEGIN unpredictably; take it over so
    # every transaction starts IMMEDIATE and waits for the write lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# Execution option marking a connection that only reads: its transaction may start deferred.
READ_ONLY = "confirmhub_read_only"


def _sqlite_begin(connection: Any) -> None:
    # Writers take the write lock up front (no SQLITE_BUSY upgrade deadlocks); readers do not,
    # so that with WAL they never wait behind a writer.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine for ``database_url`` with per-backend settings."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    # No pre-ping: it costs a round trip per checkout. A connection gone stale (the server
    # restarted) fails its next statement instead; SQLAlchemy then discards the whole pool,
    # and that one attempt is retried like any transient failure (503, retry queue).
    return create_async_engine(url, **kwargs)


def insert_for(connection: AsyncConnection, table: sa.Table) -> Any:
    """An INSERT supporting ON CONFLICT in this connection's dialect (SQLite or PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def is_sqlite(engine: AsyncEngine) -> bool:
    """Whether ``engine`` talks to SQLite (single writer, no row locks)."""
    return engine.dialect.name == "sqlite"

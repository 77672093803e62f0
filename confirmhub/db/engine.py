"""Async engine creation for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from confirmhub.errors import DatabaseUnavailable


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
    # restarted, or was demoted) fails its next statement instead; _drop_pool_on_server_loss
    # then discards the whole pool, and that one attempt is retried like any transient
    # failure (503, retry queue), on a new connection to whichever host is primary now.
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "handle_error", _drop_pool_on_server_loss)
    return engine


# SQLSTATEs of a server that can no longer take our writes: it was demoted to a read-only
# standby (25006), or is shutting down, crashed, or still starting (57P01, 57P02, 57P03).
# Class 08 (connection exceptions) is matched by its prefix.
_SERVER_LOST_SQLSTATES = frozenset({"25006", "57P01", "57P02", "57P03"})
# asyncpg's own: the connection dropped mid-statement, or no host of a multi-host URL is
# what target_session_attrs asks for (between a primary's loss and a standby's promotion).
_SERVER_LOST_ERRORS = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.TargetServerAttributeNotMatched,
)
# Anything else that means "the database did not serve this attempt", not "it refused the
# statement": SQLite's busy timeout is an OperationalError, a refused connection an OSError.
_UNAVAILABLE_ERRORS = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    OSError,
    TimeoutError,
    DatabaseUnavailable,
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the driver error SQLAlchemy wraps, and what that was raised from."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "orig", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__


def _server_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the server behind a connection is gone or no longer primary."""
    for cause in _causes(exc):
        if isinstance(cause, _SERVER_LOST_ERRORS):
            return True
        sqlstate = str(getattr(cause, "sqlstate", "") or "")
        if sqlstate in _SERVER_LOST_SQLSTATES or sqlstate.startswith("08"):
            return True
    return False


def is_unavailable(exc: BaseException) -> bool:
    """Whether the database failed to serve an attempt (down, unreachable, demoted, busy),
    rather than refused a statement: the attempt is worth retrying (503, retry queue)."""
    if _server_lost(exc):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _UNAVAILABLE_ERRORS)


def _drop_pool_on_server_loss(context: ExceptionContext) -> None:
    # Counted as a disconnect, the error invalidates the whole pool: every pooled connection
    # may point at a server that is gone or demoted, and new ones go to the new primary.
    if context.original_exception is not None and _server_lost(context.original_exception):
        context.is_disconnect = True


def insert_for(connection: AsyncConnection, table: sa.Table) -> Any:
    """An INSERT supporting ON CONFLICT in this connection's dialect (SQLite or PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def is_sqlite(engine: AsyncEngine) -> bool:
    """Whether ``engine`` talks to SQLite (single writer, no row locks)."""
    return engine.dialect.name == "sqlite"

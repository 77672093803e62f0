"""A database outage for one test, without touching the shared PostgreSQL or anyone else's
database: SQLite held by another writer (every write waits out the busy timeout, then fails),
or PostgreSQL reached through a loopback TCP proxy that can be cut (open connections drop,
new ones are refused) and restored."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Protocol

import sqlalchemy as sa


class DatabaseOutage(Protocol):
    """Takes the app's database away and gives it back."""

    url: str

    async def begin(self) -> None:
        """Take the database away (returns once it is away)."""

    async def end(self) -> None:
        """Give it back."""


class SqliteWriterLock:
    """Another connection holding SQLite's write lock, as a long transaction would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._path = sa.make_url(url).database or ""
        self._connection: sqlite3.Connection | None = None

    def _lock(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self._path, timeout=30, isolation_level=None, check_same_thread=False
        )
        connection.execute("BEGIN IMMEDIATE")
        return connection

    async def begin(self) -> None:
        """Take the write lock (waiting for a writer that holds it now)."""
        assert self._connection is None
        self._connection = await asyncio.to_thread(self._lock)

    async def end(self) -> None:
        """Release it."""
        if self._connection is not None:
            self._connection.rollback()
            self._connection.close()
            self._connection = None


class PostgresCut:
    """A TCP proxy in front of PostgreSQL; the app connects through it."""

    def __init__(self, url: str) -> None:
        self._target = sa.make_url(url)
        self._server: asyncio.Server | None = None
        self._port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    async def open(self) -> None:
        """Start forwarding; ``url`` then reaches the database through the proxy."""
        self._server = await asyncio.start_server(
            self._forward, "127.0.0.1", self._port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self.url = self._target.set(host="127.0.0.1", port=self._port).render_as_string(
            hide_password=False
        )

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            self._target.host or "127.0.0.1", self._target.port or 5432
        )
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.close()
        self._writers.discard(sink)

    async def begin(self) -> None:
        """Refuse new connections and drop the open ones."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def end(self) -> None:
        """Accept connections again, on the same port."""
        if self._server is None:
            await self.open()

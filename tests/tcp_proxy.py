"""A TCP proxy in front of the real RabbitMQ, to make the broker go away for one test.

The node itself is shared with other test sessions and is never stopped; the proxy breaks
only the connections of the app under test, in the two ways a broker goes away:
``freeze`` (the peer hangs: bytes stop flowing both ways, sockets stay open) and ``cut``
(the peer is gone: connections close, new ones are dropped at once).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from yarl import URL

_CHUNK = 65536


class TcpProxy:
    """Forwards loopback connections to ``upstream``; ``freeze``, ``cut``, ``restore``."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._refusing = False
        self._pumps: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0
        # Bytes that arrived while frozen: a client is waiting for the broker's answer.
        self.held_bytes = 0

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._pumps):
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    def url(self, amqp_url: str) -> str:
        """``amqp_url`` pointed at this proxy instead of at the node."""
        return str(URL(amqp_url).with_host("127.0.0.1").with_port(self.port))

    def freeze(self) -> None:
        """The broker hangs: nothing more is forwarded, in either direction."""
        self._flowing.clear()

    def cut(self) -> None:
        """The broker is gone: open connections close, new ones are dropped on accept."""
        self._refusing = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        """The broker is back."""
        self._refusing = False
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink))
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(_CHUNK):
                if not self._flowing.is_set():
                    self.held_bytes += len(data)
                    await self._flowing.wait()
                if self._refusing:
                    break
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sink.transport.abort()
            self._writers.discard(sink)


@asynccontextmanager
async def proxy_to(amqp_url: str) -> AsyncIterator[TcpProxy]:
    """A running proxy in front of the node of ``amqp_url``."""
    url = URL(amqp_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5672)
    await proxy.start()
    try:
        yield proxy
    finally:
        with contextlib.suppress(Exception):
            await proxy.close()

"""Serving the receiver over HTTP with a deadline for each request to arrive.

aiohttp waits for ever for a request's head and body: a client sending one byte a second
holds a connection, a buffer and a task as long as it likes, and a few thousand of them pin
the receiver. Here every request must have fully arrived within the client timeout from its
first byte (the first request of a connection: from the connection); one that has not is
answered ``408`` (if no handler has begun) and its connection closed. A handler still
reading the body gets ``RequestTimedOut`` instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from confirmhub import metrics
from receiver.errors import RequestTimedOut

log = structlog.get_logger("confirmhub.receiver")

# A request cut off before its head arrived has no route or method; one cut off in its body
# is counted by the middleware like any other answer.
_HEAD_TIMEOUTS = metrics.HTTP_REQUESTS.labels("unmatched", "", "408")

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


class _DeadlineHandler(RequestHandler):
    """A connection whose each request must arrive in full within ``client_timeout``."""

    # As aiohttp's own handler: no __dict__ for each of thousands of connections.
    __slots__ = ("_arriving", "_client_timeout", "_deadline", "_parsed_when_armed")

    def __init__(self, manager: web.Server, *, client_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._client_timeout = client_timeout
        self._deadline: asyncio.TimerHandle | None = None
        # The body of the last request parsed, while it is still arriving.
        self._arriving: StreamReader | None = None
        self._parsed_when_armed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the clock at once: a new connection is there to send a request."""
        super().connection_made(transport)
        self._deadline = self._loop.call_later(self._client_timeout, self._cut_off)

    def data_received(self, data: bytes) -> None:
        """Parse as aiohttp does; start the clock on a request's first byte, stop it once
        the request is complete."""
        if data and self._deadline is None and not (self._force_close or self._close):
            self._deadline = self._loop.call_later(self._client_timeout, self._cut_off)
            self._parsed_when_armed = self._request_count
            self._arriving = None
        super().data_received(data)
        if self._deadline is None:
            return
        if self._request_count > self._parsed_when_armed and self._messages:
            # A new request's head is complete; its body may still be on its way.
            self._parsed_when_armed = self._request_count
            payload = self._messages[-1][1]
            self._arriving = payload if isinstance(payload, StreamReader) else None
            if self._arriving is None:
                self._disarm()
                return
        if self._arriving is not None and self._arriving.is_eof():
            self._disarm()

    def connection_lost(self, exc: BaseException | None) -> None:
        """Forget the deadline of a connection that is gone."""
        self._disarm()
        super().connection_lost(exc)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._arriving = None

    def _cut_off(self) -> None:
        self._deadline = None
        arriving, self._arriving = self._arriving, None
        phase = "body" if arriving is not None else "headers"
        # Debug only: under a swarm of slow clients, a line each would flood the logs.
        log.debug("request.client_timeout", phase=phase, timeout_seconds=self._client_timeout)
        if arriving is not None:
            # A handler may be reading the body: it ends with a 408 of its own.
            arriving.set_exception(RequestTimedOut("the request did not arrive in time"))
        else:
            _HEAD_TIMEOUTS.inc()
            if self.transport is not None and not self._request_in_progress:
                self.transport.write(_TIMED_OUT)
        self.force_close()


class _DeadlineServer(web.Server):
    """aiohttp's server making connections that enforce the client timeout."""

    def __init__(self, *args: Any, client_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client_timeout = client_timeout

    def __call__(self) -> RequestHandler:
        return _DeadlineHandler(
            self, loop=self._loop, client_timeout=self._client_timeout, **self._kwargs
        )


class ReceiverRunner(web.AppRunner):
    """An ``AppRunner`` whose connections cut off requests slower than ``client_timeout``."""

    def __init__(self, app: web.Application, *, client_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._client_timeout = client_timeout

    async def _make_server(self) -> web.Server:
        # aiohttp builds its Server from the app's handler and its own options; the same,
        # with connections of our kind.
        server = await super()._make_server()
        return _DeadlineServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=asyncio.get_running_loop(),
            client_timeout=self._client_timeout,
            **server._kwargs,
        )

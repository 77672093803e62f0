"""Fakes of outside services we cannot run here, as real HTTP apps served on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from receiver.api.mcn_client import PASSWORD_CALL_PATH

Cut = Literal["before-answer", "after-headers"]


@dataclass
class FakeMcn:
    """MCN's password-call API: records each request (each one a call placed and paid for,
    unless it is answered with a refusal), answers as the real one does, or misbehaves."""

    url: str = ""
    next_uuid: str = "da59bda0a1bb_117793"
    # Name each call on its own (c00000000001_117793, …) instead of ``next_uuid``.
    numbered: bool = False
    # (status, JSON body) to answer with instead of a placed call.
    answer_with: tuple[int, Any] | None = None
    # Seconds to wait before answering.
    delay: float = 0.0
    # Runs once a request is recorded, before the answer (e.g. to take the database away).
    on_call: Callable[[], Awaitable[None]] | None = None
    # Drop the connection before answering, or after the headers of a 200.
    cut: Cut | None = None
    # Answer 200 with a body that never ends; bytes_sent counts what the client took.
    endless_body: bool = False
    bytes_sent: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        """The aiohttp app to serve."""
        app = web.Application()
        app.router.add_post(PASSWORD_CALL_PATH, self._password_call)
        return app

    async def _password_call(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"authorization": request.headers.get("Authorization"), **body})
        if self.on_call is not None:
            await self.on_call()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.cut is not None or self.endless_body:
            return await self._misbehave(request)
        if self.answer_with is not None:
            status, payload = self.answer_with
            return web.json_response(payload, status=status)
        return web.json_response(
            {
                "ok": True,
                "caller_number": "42122220" + (body.get("verification_code") or "5678"),
                "verification_code": body.get("verification_code") or "5678",
                "verification_uuid": f"c{len(self.requests):011d}_117793"
                if self.numbered
                else self.next_uuid,
                "is_redirect": False,
            }
        )

    async def _misbehave(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        if self.cut == "before-answer":
            transport.abort()
            raise asyncio.CancelledError  # nothing more to send on a dropped connection
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        if self.cut == "after-headers":
            response.content_length = 1000
            await response.prepare(request)
            await response.write(b'{"ok": true, "verific')
            transport.abort()
            return response
        await response.prepare(request)
        await response.write(b'{"ok": true, "padding": "')
        chunk = b"x" * 65536
        with contextlib.suppress(ConnectionError):
            while not transport.is_closing():
                await response.write(chunk)
                self.bytes_sent += len(chunk)
                await asyncio.sleep(0.005)
        return response

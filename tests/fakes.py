"""Fakes of outside services we cannot run here, as real HTTP apps served on loopback."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from receiver.api.mcn_client import PASSWORD_CALL_PATH


@dataclass
class FakeMcn:
    """MCN's password-call API: records each request, answers as the real one does."""

    url: str = ""
    next_uuid: str = "da59bda0a1bb_117793"
    fail_with: tuple[int, dict[str, Any]] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        """The aiohttp app to serve."""
        app = web.Application()
        app.router.add_post(PASSWORD_CALL_PATH, self._password_call)
        return app

    async def _password_call(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"authorization": request.headers.get("Authorization"), **body})
        if self.fail_with is not None:
            status, payload = self.fail_with
            return web.json_response(payload, status=status)
        return web.json_response(
            {
                "ok": True,
                "caller_number": "42122220" + (body.get("verification_code") or "5678"),
                "verification_code": body.get("verification_code") or "5678",
                "verification_uuid": self.next_uuid,
                "is_redirect": False,
            }
        )

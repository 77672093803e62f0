"""Client of MCN's password-call API."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr, ValidationError
from yarl import URL

from receiver.errors import NotConfigured, UpstreamError
from schemas.mcn import MCN_REQUEST_FIELDS, McnPasswordCallResponse, PasswordCallRequest

PASSWORD_CALL_PATH = "/api/protected/api/auth/passwordcall"  # noqa: S105 (a path)
_MESSAGE_KEYS = ("message", "error_description", "error", "detail", "description")


def _upstream_message(payload: Any, text: str) -> str:
    if isinstance(payload, dict):
        for key in _MESSAGE_KEYS:
            value = payload.get(key)
            if isinstance(value, str) and value:
                return value[:500]
    return text[:500] or "no message"


class McnClient:
    """Places password calls through MCN's API."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        token: SecretStr | None,
        timeout: float,
    ) -> None:
        self._session = session
        self._url = URL(base_url.rstrip("/") + PASSWORD_CALL_PATH)
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def place_password_call(self, request: PasswordCallRequest) -> McnPasswordCallResponse:
        """Ask MCN to call ``request.phone_number``; UpstreamError on any failure."""
        if self._token is None:
            raise NotConfigured("password calls need CONFIRMHUB_MCN_API_TOKEN")
        headers = {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "Accept": "application/json",
        }
        body = request.model_dump(include=set(MCN_REQUEST_FIELDS), exclude_none=True)
        try:
            async with self._session.post(
                self._url, json=body, headers=headers, timeout=self._timeout
            ) as response:
                text = await response.text(errors="replace")
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamError(f"MCN API unreachable: {type(exc).__name__}") from exc
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError:
            payload = None
        if status >= 400 or not isinstance(payload, dict) or payload.get("ok") is not True:
            raise UpstreamError(f"MCN API answered {status}: {_upstream_message(payload, text)}")
        try:
            answer = McnPasswordCallResponse.model_validate(payload)
        except ValidationError as exc:
            raise UpstreamError("MCN API answer is malformed") from exc
        if answer.verification_call_uuid is None:
            raise UpstreamError("MCN API answer has no verification_uuid")
        return answer

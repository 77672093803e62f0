"""Client of MCN's password-call API, telling apart the three ways a paid request can end.

- **placed**: MCN named the call; ``place_password_call`` returns its answer.
- **refused** (``UpstreamError``): MCN certainly placed no call — the connection was never
  made, or MCN said no (``ok: false``, or a 4xx without a call id).
- **answer lost** (``McnAnswerLost``): the request reached MCN, but no usable answer came
  back — a timeout, a dropped connection, a 5xx, a body too long to read, a success without
  a call id. A call may exist, so the caller must not place another.

Nothing MCN sends reaches a problem detail (or the request's log line) but the text of a
known message key, with every run of four or more digits masked: a reply may carry the code,
or a caller number whose last four digits are the code.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr
from yarl import URL

from receiver.errors import McnAnswerLost, NotConfigured, UpstreamError
from schemas.mcn import MCN_REQUEST_FIELDS, McnPasswordCallResponse, PasswordCallRequest

PASSWORD_CALL_PATH = "/api/protected/api/auth/passwordcall"  # noqa: S105 (a path)
# MCN answers with a few hundred bytes; anything past this is not an answer we can use.
MAX_RESPONSE_BYTES = 64 * 1024
_MESSAGE_KEYS = ("message", "error_description", "error", "detail", "description")
_DIGIT_RUN = re.compile(r"[0-9]{4,}")
_MESSAGE_LENGTH = 200
# Connecting failed, so the request was never sent: certainly no call.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def _masked(text: str) -> str:
    return _DIGIT_RUN.sub("****", " ".join(text.split()))[:_MESSAGE_LENGTH]


def upstream_message(payload: Any) -> str:
    """MCN's own words about a failure, masked; never the raw reply."""
    if isinstance(payload, dict):
        for key in _MESSAGE_KEYS:
            value = payload.get(key)
            if isinstance(value, dict):  # {"error": {"message": …}}
                return upstream_message(value)
            if isinstance(value, str) and value.strip():
                return _masked(value)
    return "no message"


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, or None once it proves longer than ``limit`` (reading stops there)."""
    if response.content_length is not None and response.content_length > limit:
        return None
    body = bytearray()
    async for chunk in response.content.iter_chunked(limit):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _json_object(body: bytes | None) -> dict[str, Any] | None:
    if body is None:
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def read_answer(status: int, body: bytes | None) -> McnPasswordCallResponse:
    """The placed call MCN's reply describes; UpstreamError if MCN refused, McnAnswerLost if
    the reply cannot tell."""
    payload = _json_object(body)
    answer = None if payload is None else McnPasswordCallResponse.model_validate(payload)
    if body is None:
        message = f"the reply is over {MAX_RESPONSE_BYTES} bytes"
    else:
        message = upstream_message(payload)
    if answer is not None and answer.verification_call_uuid is not None:
        if answer.ok is not False:
            # MCN named a call: it exists and is paid for, whatever the status says.
            return answer
    elif (answer is not None and answer.ok is False) or 400 <= status < 500:
        raise UpstreamError(f"MCN API refused the call ({status}): {message}")
    raise McnAnswerLost(f"MCN API answered {status} without a usable call id: {message}")


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

    def require_configured(self) -> None:
        """NotConfigured unless a call can be placed (checked before anything is recorded)."""
        if self._token is None:
            raise NotConfigured("password calls need CONFIRMHUB_MCN_API_TOKEN")

    async def place_password_call(self, request: PasswordCallRequest) -> McnPasswordCallResponse:
        """Ask MCN to call ``request.phone_number``; the module docstring lists the errors."""
        self.require_configured()
        assert self._token is not None
        headers = {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "Accept": "application/json",
        }
        body = request.model_dump(include=set(MCN_REQUEST_FIELDS), exclude_none=True)
        try:
            async with self._session.post(
                self._url, json=body, headers=headers, timeout=self._timeout
            ) as response:
                status = response.status
                raw = await _read_at_most(response, MAX_RESPONSE_BYTES)
        except _NOT_SENT as exc:
            raise UpstreamError(f"MCN API unreachable: {type(exc).__name__}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise McnAnswerLost(f"MCN API did not answer: {type(exc).__name__}") from exc
        return read_answer(status, raw)

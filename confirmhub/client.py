"""A small client for services that call Bitrix24 methods needing an administrator's approval.

Some Bitrix24 REST methods answer ``401 METHOD_CONFIRM_WAITING`` until a portal administrator
approves them, or ``403 METHOD_CONFIRM_DENIED`` once denied. The approval is bound to the
access token the call used, so on ``waiting`` do **not** refresh the token: a new token starts
over with no approval, and the pending one is lost. Register the wait with confirmhub and act
on the ``method_confirmation.confirmed`` or ``method_confirmation.denied`` event it publishes
(or poll ``confirmation_status``), then retry with the same token::

    async with aiohttp.ClientSession() as session:
        confirmhub = ConfirmhubClient(session, "http://confirmhub:8080", admin_token)
        rest_url = f"https://{domain}/rest/voximplant.user.get"
        async with session.post(rest_url, data={"auth": access_token}) as response:
            status, body = response.status, await response.json()
        match classify_bitrix24_response(status, body):
            case "ok":
                use(body["result"])
            case "waiting":  # keep this access token until the decision arrives
                await confirmhub.register_waiting(member_id, access_token, "voximplant.user.get")
            case "denied":
                give_up()
            case "error":
                handle_error(body)

The access token is sent only in the ``PUT`` body; URLs carry its SHA-256, and nothing here
logs. Arguments the API would refuse raise ``pydantic.ValidationError`` (a ``ValueError``)
before any request, with the token masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

import aiohttp
from pydantic import SecretStr
from yarl import URL

from confirmhub.redact import sha256_hex
from schemas.bitrix24 import MethodConfirmationRegistration, MethodConfirmationStatus

Bitrix24Outcome = Literal["ok", "waiting", "denied", "error"]

METHOD_CONFIRM_WAITING = "METHOD_CONFIRM_WAITING"
METHOD_CONFIRM_DENIED = "METHOD_CONFIRM_DENIED"

_STATUSES: frozenset[str] = frozenset(get_args(MethodConfirmationStatus))


def classify_bitrix24_response(status: int, body: Mapping[str, Any] | None) -> Bitrix24Outcome:
    """What a Bitrix24 REST answer means for a method that may need confirmation."""
    error = body.get("error") if body is not None else None
    if status == 401 and error == METHOD_CONFIRM_WAITING:
        return "waiting"
    if status == 403 and error == METHOD_CONFIRM_DENIED:
        return "denied"
    if 200 <= status < 300:
        return "ok"
    return "error"


class ConfirmhubClientError(Exception):
    """confirmhub answered with an unexpected status or body."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class ConfirmhubClient:
    """Registers METHOD_CONFIRM_WAITING calls with confirmhub and reads their decisions."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str | URL, admin_token: str | SecretStr
    ) -> None:
        self._session = session
        self._base_url = URL(base_url)
        secret = admin_token if isinstance(admin_token, SecretStr) else SecretStr(admin_token)
        self._headers = {"Authorization": f"Bearer {secret.get_secret_value()}"}

    def __repr__(self) -> str:
        return f"ConfirmhubClient(base_url={str(self._base_url)!r})"

    async def register_waiting(
        self, member_id: str, token: str | SecretStr, method: str
    ) -> MethodConfirmationStatus:
        """Record that ``method`` with ``token`` got METHOD_CONFIRM_WAITING; the current status."""
        registration = _registration(member_id, token, method)
        url = self._base_url / "api" / "v1" / "method-confirmations"
        body = {
            "member_id": registration.member_id,
            "token": registration.token.get_secret_value(),
            "method": registration.method,
        }
        async with self._session.put(url, json=body, headers=self._headers) as response:
            if response.status != 200:
                raise await _unexpected(response)
            return _status_of(await _json_or_none(response), status=response.status)

    async def confirmation_status(
        self, member_id: str, token: str | SecretStr, method: str
    ) -> MethodConfirmationStatus | None:
        """``pending``, ``confirmed`` or ``denied``; ``None`` if confirmhub never heard of it."""
        registration = _registration(member_id, token, method)
        token_sha256 = sha256_hex(registration.token.get_secret_value())
        url = (
            self._base_url
            / "api"
            / "v1"
            / "method-confirmations"
            / registration.member_id
            / token_sha256
            / registration.method
        )
        async with self._session.get(url, headers=self._headers) as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise await _unexpected(response)
            return _status_of(await _json_or_none(response), status=response.status)


def _registration(
    member_id: str, token: str | SecretStr, method: str
) -> MethodConfirmationRegistration:
    """Validate the arguments as the API will, so bad ones fail here and not as a 422."""
    # Wrapped before validation so that a ValidationError shows the token masked.
    secret = token if isinstance(token, SecretStr) else SecretStr(token)
    return MethodConfirmationRegistration(member_id=member_id, token=secret, method=method)


def _status_of(body: Any, *, status: int) -> MethodConfirmationStatus:
    """The ``status`` field of a method confirmation view."""
    value = body.get("status") if isinstance(body, dict) else None
    if value not in _STATUSES:
        raise ConfirmhubClientError("confirmhub answered without a valid status", status=status)
    result: MethodConfirmationStatus = value
    return result


async def _json_or_none(response: aiohttp.ClientResponse) -> Any:
    """The decoded JSON body, or ``None`` if it is not JSON."""
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None


async def _unexpected(response: aiohttp.ClientResponse) -> ConfirmhubClientError:
    """An error naming the status and the problem's title and detail, never the token."""
    problem = await _json_or_none(response)
    summary = ""
    if isinstance(problem, dict):
        summary = f": {problem.get('title', '')} {problem.get('detail', '')}".rstrip()
    return ConfirmhubClientError(
        f"confirmhub answered {response.status}{summary}", status=response.status
    )

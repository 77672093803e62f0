"""What every adapter shares: reading options, formatting numbers, one POST with failures mapped."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr
from yarl import URL

from worker.sms.base import PermanentSmsError, RetryableSmsError

# E.164: a country code never starts with 0, and the whole number is at most 15 digits.
_E164 = re.compile(r"\+?([1-9][0-9]{6,14})")
_NUMERIC_SENDER = re.compile(r"\+?([0-9]+)")


def required_text(provider: str, options: Mapping[str, Any], key: str) -> str:
    """The non-empty string option ``key``; PermanentSmsError naming the key (never the value)."""
    value = options.get(key)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str) or not value.strip():
        raise PermanentSmsError(f"{provider} needs a non-empty string option {key!r}")
    return value.strip()


def required_secret(provider: str, options: Mapping[str, Any], key: str) -> SecretStr:
    """Option ``key`` as a SecretStr, accepted either plain or already wrapped."""
    return SecretStr(required_text(provider, options, key))


def optional_text(provider: str, options: Mapping[str, Any], key: str, default: str) -> str:
    """Option ``key``, or ``default`` when it is absent, None or empty."""
    if options.get(key) in (None, ""):
        return default
    return required_text(provider, options, key)


def base_url(provider: str, options: Mapping[str, Any], default: str) -> URL:
    """The ``base_url`` option as an http(s) URL without a trailing slash."""
    url = URL(optional_text(provider, options, "base_url", default).rstrip("/"))
    if url.scheme not in ("http", "https") or not url.host:
        raise PermanentSmsError(f"{provider} option 'base_url' must be an http(s) URL")
    return url


def e164_digits(provider: str, number: str) -> str:
    """``number``'s digits without "+"; PermanentSmsError if it is not E.164."""
    match = _E164.fullmatch(number.strip())
    if match is None:
        raise PermanentSmsError(f"{provider}: the destination is not an E.164 number")
    return match.group(1)


def sender_digits(sender: str) -> str | None:
    """A numeric sender's digits without "+", or None for an alphanumeric sender ID."""
    match = _NUMERIC_SENDER.fullmatch(sender)
    return None if match is None else match.group(1)


def basic_authorization(login: str, password: SecretStr) -> SecretStr:
    """An HTTP basic ``Authorization`` value (RFC 7617, UTF-8)."""
    # By hand: aiohttp 3.14 deprecates BasicAuth, and its replacement is missing before 3.14.
    pair = f"{login}:{password.get_secret_value()}".encode()
    return SecretStr("Basic " + base64.b64encode(pair).decode("ascii"))


async def post(
    session: aiohttp.ClientSession,
    url: URL,
    *,
    provider: str,
    client_timeout: aiohttp.ClientTimeout,
    authorization: SecretStr | None = None,
    data: Mapping[str, str] | None = None,
    json: Mapping[str, Any] | None = None,
) -> tuple[int, Any]:
    """POST once and return the status and the JSON answer (None if it is not JSON)."""
    headers = {"Accept": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization.get_secret_value()
    try:
        # A redirect would turn the POST into a GET elsewhere; a provider never redirects one.
        async with session.post(
            url,
            data=data,
            json=json,
            headers=headers,
            timeout=client_timeout,
            allow_redirects=False,
            # The caller's session may raise on 4xx/5xx; we classify statuses ourselves.
            raise_for_status=False,
        ) as response:
            raw = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RetryableSmsError(f"{provider} unreachable: {type(exc).__name__}") from exc
    try:
        payload: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        payload = None
    return status, payload


def transient_status(status: int) -> bool:
    """Whether an HTTP status means "try later": throttled or a server-side failure."""
    return status == 429 or status >= 500


def unreadable_acceptance(provider: str, status: int) -> PermanentSmsError:
    """The error for a 2xx answer we cannot read.

    Permanent on purpose: the provider may well have queued the SMS, and sending it again
    would text the user a second code. Better one missing SMS than two.
    """
    return PermanentSmsError(f"{provider} answered {status} without a readable message id")

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

from confirmhub.sms.errors import PermanentSmsError, RetryableSmsError, UnconfirmedSmsError

# E.164: a country code never starts with 0, and the whole number is at most 15 digits.
_E164 = re.compile(r"\+?([1-9][0-9]{6,14})")
_NUMERIC_SENDER = re.compile(r"\+?([0-9]+)")
# What a message id may look like: printable ASCII without spaces, short enough to store
# (sms_attempts.provider_message_id and password_calls.sms_message_id are 128 wide).
_MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,128}")
# No provider's answer comes near this; a longer one is not read any further.
MAX_ANSWER_BYTES = 64 * 1024
# Failures before a byte of the request left this host: the provider cannot have taken it.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


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


def client_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """``seconds`` for the whole request, at most half of them to connect.

    A connection that does not open in time fails as ``ConnectionTimeoutError`` (nothing was
    sent, another provider may try), told apart from an answer that does not come in time
    (the request may have been taken).
    """
    return aiohttp.ClientTimeout(total=seconds, connect=seconds / 2)


class _AnswerTooLong(Exception):
    """The answer is longer than MAX_ANSWER_BYTES."""


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    if (response.content_length or 0) > MAX_ANSWER_BYTES:
        raise _AnswerTooLong
    body = bytearray()
    async for chunk in response.content.iter_any():
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise _AnswerTooLong
    return bytes(body)


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
    """POST once; the status and the JSON answer (None if it is not JSON or was not read).

    RetryableSmsError if the request never left (no connection); UnconfirmedSmsError if it
    may have reached the provider but no status came back, or a 2xx came whose body could not
    be read in full: from the status on, a 2xx is final whatever happens to the body.
    """
    headers = {"Accept": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization.get_secret_value()
    try:
        response = await session.post(
            url,
            data=data,
            json=json,
            headers=headers,
            timeout=client_timeout,
            # A redirect would turn the POST into a GET elsewhere; a provider never redirects one.
            allow_redirects=False,
            # The caller's session may raise on 4xx/5xx; we classify statuses ourselves.
            raise_for_status=False,
        )
    except _NOT_SENT as exc:
        raise RetryableSmsError(f"{provider} unreachable: {type(exc).__name__}") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise UnconfirmedSmsError(
            f"{provider} sent no answer ({type(exc).__name__}); the SMS may have been sent"
        ) from exc
    status = response.status
    try:
        raw = await _read_bounded(response)
    except (aiohttp.ClientError, TimeoutError, _AnswerTooLong) as exc:
        if accepted(status):
            raise unreadable_acceptance(provider, status) from exc
        raw = b""  # a refusal's status says enough
    finally:
        response.release()
    try:
        payload: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        payload = None
    return status, payload


def accepted(status: int) -> bool:
    """Whether an HTTP status says the provider took the request."""
    return 200 <= status < 300


def transient_status(status: int) -> bool:
    """Whether an HTTP status means "try later": throttled or a server-side failure."""
    return status == 429 or status >= 500


def message_id(value: object) -> str | None:
    """A provider's message id as text, or None when it is missing or not a usable id."""
    # bool is an int too, but never an id; SMSAero's ids are integers.
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value)
    return text if _MESSAGE_ID.fullmatch(text) else None


def unreadable_acceptance(provider: str, status: int) -> UnconfirmedSmsError:
    """The error for a 2xx answer we cannot read.

    Final on purpose: the provider has processed the request and may well have queued the
    SMS; sending it again would text the user a second code. Better one missing SMS than two.
    """
    return UnconfirmedSmsError(f"{provider} answered {status} without a readable message id")

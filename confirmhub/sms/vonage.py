"""Vonage (Nexmo) SMS API: one ``POST /sms/json`` per SMS, credentials in the form body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from pydantic import SecretStr
from yarl import URL

from confirmhub.sms import _common
from confirmhub.sms.base import SmsAccepted, SmsMessage
from confirmhub.sms.errors import PermanentSmsError, RetryableSmsError, SmsError

PROVIDER = "Vonage"
DEFAULT_BASE_URL = "https://rest.nexmo.com"
# Statuses that clear up by themselves; every other non-zero status needs a person.
RETRYABLE_STATUSES = frozenset({"1", "5"})
_STATUS_LABELS = {
    "1": "throttled",
    "2": "missing parameters",
    "3": "invalid parameters",
    "4": "invalid credentials",
    "5": "internal error",
    "6": "invalid message",
    "7": "number barred",
    "8": "partner account barred",
    "9": "partner quota exceeded",
    "11": "account not enabled for HTTP",
    "12": "message too long",
    "15": "invalid sender address",
    "22": "invalid network code",
    "29": "non-whitelisted destination",
    "32": "signature and API secret disallowed",
    "33": "number de-activated",
}


def _status_code(message: Mapping[str, Any]) -> str:
    status = message.get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        status = str(status)  # documented as a string, but be lenient
    # Only short digit strings reach a reason; anything else is provider text we don't echo.
    if isinstance(status, str) and status.isdigit() and len(status) <= 4:
        return status
    return "unknown"


def classify_vonage_status(status: str) -> SmsError:
    """The error for a non-zero per-message status: 1 and 5 retry, the rest is final."""
    label = _STATUS_LABELS.get(status)
    reason = f"{PROVIDER} status {status}" + (f" ({label})" if label else "")
    if status in RETRYABLE_STATUSES:
        return RetryableSmsError(reason)
    return PermanentSmsError(reason)


class VonageSender:
    """Sends SMS through Vonage's SMS API."""

    provider: str = PROVIDER

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str,
        api_secret: SecretStr,
        sender: str,
        base_url: URL,
        timeout: float,
    ) -> None:
        self._session = session
        self._url = base_url / "sms" / "json"
        self._api_key = api_key
        self._api_secret = api_secret
        # Vonage wants numbers as bare digits; an alphanumeric sender ID goes as it is.
        self._from = _common.sender_digits(sender) or sender
        self._timeout = _common.client_timeout(timeout)

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], session: aiohttp.ClientSession, *, timeout: float
    ) -> VonageSender:
        """Build from ``api_key``, ``api_secret``, ``from`` and optional ``base_url``."""
        return cls(
            session,
            api_key=_common.required_text(PROVIDER, options, "api_key"),
            api_secret=_common.required_secret(PROVIDER, options, "api_secret"),
            sender=_common.required_text(PROVIDER, options, "from"),
            base_url=_common.base_url(PROVIDER, options, DEFAULT_BASE_URL),
            timeout=timeout,
        )

    async def send(self, message: SmsMessage) -> SmsAccepted:
        """Submit the SMS; the first part's ``message-id`` is the receipt."""
        form = {
            # In the body, never the query string, so the secret stays out of access logs.
            "api_key": self._api_key,
            "api_secret": self._api_secret.get_secret_value(),
            "from": self._from,
            "to": _common.e164_digits(PROVIDER, message.to),
            "text": message.body,
            # Plain "text" would mangle Cyrillic and other non-GSM characters.
            "type": "text" if message.body.isascii() else "unicode",
        }
        status, payload = await _common.post(
            self._session, self._url, provider=PROVIDER, client_timeout=self._timeout, data=form
        )
        if _common.transient_status(status):
            raise RetryableSmsError(f"{PROVIDER} answered {status}")
        if not 200 <= status < 300:
            raise PermanentSmsError(f"{PROVIDER} answered {status}")
        parts = payload.get("messages") if isinstance(payload, dict) else None
        if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) for p in parts):
            raise _common.unreadable_acceptance(PROVIDER, status)
        return _receipt(parts, status)


def _receipt(parts: list[dict[str, Any]], http_status: int) -> SmsAccepted:
    """The receipt for a long SMS's parts, or the error of the first failed part."""
    codes = [_status_code(part) for part in parts]
    failed = [code for code in codes if code != "0"]
    if failed and len(failed) < len(codes):
        # Some parts went out: retrying would resend them, so this is final whatever the code.
        raise PermanentSmsError(f"{PROVIDER} sent only some parts (status {failed[0]})")
    if failed:
        raise classify_vonage_status(failed[0])
    message_id = _common.message_id(parts[0].get("message-id"))
    if message_id is None:
        raise _common.unreadable_acceptance(PROVIDER, http_status)
    return SmsAccepted(provider_message_id=message_id)

"""SMSAero API v2: one ``POST /v2/sms/send`` per SMS with HTTP basic auth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from pydantic import SecretStr
from yarl import URL

from confirmhub.sms import _common
from confirmhub.sms.base import SmsAccepted, SmsMessage
from confirmhub.sms.errors import PermanentSmsError, RetryableSmsError

PROVIDER = "SMSAero"
DEFAULT_BASE_URL = "https://gate.smsaero.ru"
DEFAULT_SIGN = "SMS Aero"


class SmsAeroSender:
    """Sends SMS through SMSAero's v2 API."""

    provider: str = PROVIDER

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        email: str,
        api_key: SecretStr,
        sign: str,
        base_url: URL,
        timeout: float,
    ) -> None:
        self._session = session
        self._url = base_url / "v2" / "sms" / "send"
        self._authorization = _common.basic_authorization(email, api_key)
        self._sign = sign
        self._timeout = _common.client_timeout(timeout)

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], session: aiohttp.ClientSession, *, timeout: float
    ) -> SmsAeroSender:
        """Build from ``email``, ``api_key`` and optional ``sign`` and ``base_url``."""
        return cls(
            session,
            email=_common.required_text(PROVIDER, options, "email"),
            api_key=_common.required_secret(PROVIDER, options, "api_key"),
            sign=_common.optional_text(PROVIDER, options, "sign", DEFAULT_SIGN),
            base_url=_common.base_url(PROVIDER, options, DEFAULT_BASE_URL),
            timeout=timeout,
        )

    async def send(self, message: SmsMessage) -> SmsAccepted:
        """Submit the SMS; ``data.id`` is the receipt."""
        body = {
            "number": _common.e164_digits(PROVIDER, message.to),
            "text": message.body,
            "sign": self._sign,
        }
        status, payload = await _common.post(
            self._session,
            self._url,
            provider=PROVIDER,
            client_timeout=self._timeout,
            authorization=self._authorization,
            json=body,
        )
        if _common.transient_status(status):
            raise RetryableSmsError(f"{PROVIDER} answered {status}")
        success = payload.get("success") if isinstance(payload, dict) else None
        if status == 401:
            raise PermanentSmsError(f"{PROVIDER} answered 401 (authentication failed)")
        if success is False or not 200 <= status < 300:
            # The accompanying "message" is provider text that may quote the request: not used.
            raise PermanentSmsError(f"{PROVIDER} refused the request (HTTP {status})")
        message_id = _message_id(payload) if success is True else None
        if message_id is None:
            raise _common.unreadable_acceptance(PROVIDER, status)
        return SmsAccepted(provider_message_id=message_id)


def _message_id(payload: Mapping[str, Any]) -> str | None:
    """``data.id`` of a successful answer, or None when it is missing or not an id."""
    data = payload.get("data")
    return _common.message_id(data.get("id") if isinstance(data, dict) else None)

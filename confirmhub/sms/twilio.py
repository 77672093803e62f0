"""Twilio Programmable Messaging: one ``POST .../Messages.json`` per SMS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from pydantic import SecretStr
from yarl import URL

from confirmhub.sms import _common
from confirmhub.sms.base import SmsAccepted, SmsMessage
from confirmhub.sms.errors import PermanentSmsError, RetryableSmsError, SmsError

PROVIDER = "Twilio"
DEFAULT_BASE_URL = "https://api.twilio.com"
THROTTLED = 20429
# Our own words for the codes worth naming; Twilio's messages may quote the number.
_CODE_LABELS = {
    20003: "authentication failed",
    20429: "too many requests",
    21211: "invalid 'To' number",
    21408: "region not enabled for this account",
    21610: "recipient has unsubscribed",
    21614: "'To' is not a mobile number",
}


def classify_twilio_error(status: int, payload: Any) -> SmsError:
    """The error for a non-2xx Twilio answer: throttling and 5xx retry, the rest is final."""
    code = _error_code(payload)
    reason = f"{PROVIDER} answered {status}"
    if code is not None:
        label = _CODE_LABELS.get(code)
        reason += f" (code {code}: {label})" if label else f" (code {code})"
    if _common.transient_status(status) or code == THROTTLED:
        return RetryableSmsError(reason)
    return PermanentSmsError(reason)


def _error_code(payload: Any) -> int | None:
    code = payload.get("code") if isinstance(payload, dict) else None
    # bool is an int too, and never a Twilio code.
    return code if isinstance(code, int) and not isinstance(code, bool) else None


class TwilioSender:
    """Sends SMS through Twilio's Messages API with HTTP basic auth."""

    provider: str = PROVIDER

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        account_sid: str,
        auth_token: SecretStr,
        sender: str,
        base_url: URL,
        timeout: float,
    ) -> None:
        self._session = session
        # yarl quotes each segment, so an odd SID cannot change the path.
        self._url = base_url / "2010-04-01" / "Accounts" / account_sid / "Messages.json"
        self._authorization = _common.basic_authorization(account_sid, auth_token)
        # Twilio wants "+" on phone numbers but an alphanumeric sender ID as it is.
        digits = _common.sender_digits(sender)
        self._from = sender if digits is None else f"+{digits}"
        self._timeout = _common.client_timeout(timeout)

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], session: aiohttp.ClientSession, *, timeout: float
    ) -> TwilioSender:
        """Build from ``api_sid``, ``api_secret``, ``from`` and optional ``base_url``."""
        return cls(
            session,
            account_sid=_common.required_text(PROVIDER, options, "api_sid"),
            auth_token=_common.required_secret(PROVIDER, options, "api_secret"),
            sender=_common.required_text(PROVIDER, options, "from"),
            base_url=_common.base_url(PROVIDER, options, DEFAULT_BASE_URL),
            timeout=timeout,
        )

    async def send(self, message: SmsMessage) -> SmsAccepted:
        """Create a Message resource; its ``sid`` is the receipt."""
        to = "+" + _common.e164_digits(PROVIDER, message.to)
        status, payload = await _common.post(
            self._session,
            self._url,
            provider=PROVIDER,
            client_timeout=self._timeout,
            authorization=self._authorization,
            data={"To": to, "From": self._from, "Body": message.body},
        )
        if not 200 <= status < 300:
            raise classify_twilio_error(status, payload)
        sid = _common.message_id(payload.get("sid") if isinstance(payload, dict) else None)
        if sid is None:
            raise _common.unreadable_acceptance(PROVIDER, status)
        return SmsAccepted(provider_message_id=sid)

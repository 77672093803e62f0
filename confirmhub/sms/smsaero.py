"""SMSAero API v2, with HTTP basic auth (account e-mail and API key).

Send: one ``POST /v2/sms/send`` per SMS, with a ``callbackUrl`` when receipts are wanted.
Receipt: SMSAero's status callback is not signed, so anyone could post one: it is only a
hint naming a message. Its status is what ``POST /v2/sms/status`` answers for that message,
asked with the provider's own credentials before anything is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import aiohttp
from pydantic import SecretStr
from yarl import URL

from confirmhub.sms import _common, _receipts
from confirmhub.sms.base import Delivery, DeliveryReport, ReceivedReceipt, SmsAccepted, SmsMessage
from confirmhub.sms.errors import (
    PermanentSmsError,
    ReceiptUnconfirmed,
    RetryableSmsError,
    SmsError,
)
from schemas.sms_receipts import SmsAeroCallback, SmsAeroStatus

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
        if message.receipt_url is not None:
            body["callbackUrl"] = message.receipt_url
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


# SMSAero's message statuses: 1 delivered; 2 not delivered and 6 rejected are final too;
# 0 queued, 3 transmitted, 4 awaiting status and 8 in moderation are on the way.
_DELIVERY = {1: Delivery.DELIVERED, 2: Delivery.UNDELIVERED, 6: Delivery.UNDELIVERED}


class SmsAeroReceipts:
    """Reads SMSAero's status callbacks as hints, and confirms each with its status API."""

    provider: str = PROVIDER
    signed: ClassVar[bool] = False

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        email: str,
        api_key: SecretStr,
        base_url: URL,
        timeout: float,
    ) -> None:
        self._session = session
        self._url = base_url / "v2" / "sms" / "status"
        self._authorization = _common.basic_authorization(email, api_key)
        self._timeout = _common.client_timeout(timeout)

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], session: aiohttp.ClientSession, *, timeout: float
    ) -> SmsAeroReceipts:
        """Build from ``email``, ``api_key`` and optional ``base_url``."""
        return cls(
            session,
            email=_common.required_text(PROVIDER, options, "email"),
            api_key=_common.required_secret(PROVIDER, options, "api_key"),
            base_url=_common.base_url(PROVIDER, options, DEFAULT_BASE_URL),
            timeout=timeout,
        )

    def read(self, receipt: ReceivedReceipt) -> DeliveryReport:
        """The message the callback names; what it says of its status is not taken."""
        fields = _receipts.fields_of(receipt)
        # The callback carries the message as the API shows it, at the top or under "data".
        nested = fields.get("data")
        callback = _receipts.parse(
            SmsAeroCallback, nested if isinstance(nested, dict) else fields, provider=PROVIDER
        )
        return DeliveryReport(callback.id, Delivery.PENDING, status="callback")

    async def confirm(self, report: DeliveryReport) -> DeliveryReport:
        """The message's status as SMSAero's status API answers it."""
        message_id = report.provider_message_id
        try:
            status, payload = await _common.post(
                self._session,
                self._url,
                provider=PROVIDER,
                client_timeout=self._timeout,
                authorization=self._authorization,
                json={"id": int(message_id) if message_id.isdigit() else message_id},
            )
        except SmsError as exc:
            raise ReceiptUnconfirmed(f"{PROVIDER} status API: {exc.reason}") from exc
        answer = payload if isinstance(payload, dict) else {}
        if not _common.accepted(status) or answer.get("success") is not True:
            raise ReceiptUnconfirmed(f"{PROVIDER} status API answered {status} for the message")
        try:
            known = SmsAeroStatus.model_validate(answer.get("data"))
        except ValueError:
            raise ReceiptUnconfirmed(f"{PROVIDER} status API gave no status") from None
        if known.id != message_id:
            raise ReceiptUnconfirmed(f"{PROVIDER} status API answered for another message")
        word = _receipts.token(known.extend_status) or str(known.status)
        return DeliveryReport(message_id, _DELIVERY.get(known.status, Delivery.PENDING), word)

"""Vonage (Nexmo) SMS API.

Send: one ``POST /sms/json`` per SMS, credentials in the form body; with receipts wanted (and
a signature secret to check them with), a ``callback`` URL and our reference as
``client-ref``. Receipt: the delivery receipt (DLR), as a form or JSON, signed in ``sig`` per
Vonage's signing scheme with the account's signature secret and the method its dashboard
sets: every other parameter sorted by name as ``&name=value`` (``&`` and ``=`` in values
replaced by ``_``), then an MD5 of that string and the secret (``md5hash``, Vonage's default)
or an HMAC keyed with the secret (``md5``, ``sha1``, ``sha256``, ``sha512``), in hex.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar

import aiohttp
from pydantic import SecretStr
from yarl import URL

from confirmhub.sms import _common, _receipts
from confirmhub.sms.base import Delivery, DeliveryReport, ReceivedReceipt, SmsAccepted, SmsMessage
from confirmhub.sms.errors import (
    PermanentSmsError,
    ReceiptNotAuthentic,
    RetryableSmsError,
    SmsError,
)
from schemas.provider_settings import SECRET_MASK, VONAGE_SIGNATURE_METHODS
from schemas.sms_receipts import VonageDeliveryReceipt

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
        receipts: bool = False,
    ) -> None:
        self._session = session
        self._url = base_url / "sms" / "json"
        self._api_key = api_key
        self._api_secret = api_secret
        # Receipts are asked for only when they can be checked: unsigned ones are refused.
        self._receipts = receipts
        # Vonage wants numbers as bare digits; an alphanumeric sender ID goes as it is.
        self._from = _common.sender_digits(sender) or sender
        self._timeout = _common.client_timeout(timeout)

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], session: aiohttp.ClientSession, *, timeout: float
    ) -> VonageSender:
        """Build from ``api_key``, ``api_secret``, ``from`` and optional ``base_url`` and
        ``signature_secret``."""
        return cls(
            session,
            api_key=_common.required_text(PROVIDER, options, "api_key"),
            api_secret=_common.required_secret(PROVIDER, options, "api_secret"),
            sender=_common.required_text(PROVIDER, options, "from"),
            base_url=_common.base_url(PROVIDER, options, DEFAULT_BASE_URL),
            timeout=timeout,
            receipts=signature_secret(options) is not None,
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
        if self._receipts and message.receipt_url is not None:
            form["callback"] = message.receipt_url
            if message.reference is not None:
                form["client-ref"] = message.reference
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


# DLR statuses that are final; accepted, buffered and unknown say it is still on its way.
_FINAL = {
    "delivered": Delivery.DELIVERED,
    "expired": Delivery.UNDELIVERED,
    "failed": Delivery.UNDELIVERED,
    "rejected": Delivery.UNDELIVERED,
}


def signature_secret(options: Mapping[str, Any]) -> SecretStr | None:
    """The ``signature_secret`` option, or None when none is stored."""
    value = options.get("signature_secret")
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str) or not value.strip() or value == SECRET_MASK:
        return None
    return SecretStr(value.strip())


def vonage_signature(secret: SecretStr, method: str, params: Mapping[str, str]) -> str:
    """The ``sig`` of ``params`` (``sig`` itself left out) by Vonage's signing ``method``."""
    signed = "".join(
        f"&{name}={params[name].replace('&', '_').replace('=', '_')}" for name in sorted(params)
    )
    key = secret.get_secret_value().encode()
    if method == "md5hash":
        # Vonage's scheme, weak or not; usedforsecurity=False keeps FIPS builds from refusing it.
        return hashlib.md5(signed.encode() + key, usedforsecurity=False).hexdigest()
    return hmac.new(key, signed.encode(), method).hexdigest()


def _signed_values(fields: Mapping[str, Any]) -> dict[str, str] | None:
    """The fields as the strings Vonage signed, or None if one cannot be one (a JSON DLR's
    values are strings; a number is taken as its digits)."""
    values = {}
    for name, value in fields.items():
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            return None
        values[name] = value
    return values


class VonageReceipts:
    """Reads Vonage's delivery receipts for one account."""

    provider: str = PROVIDER
    signed: ClassVar[bool] = True

    def __init__(self, *, secret: SecretStr | None, method: str) -> None:
        self._secret = secret
        self._method = method

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], session: aiohttp.ClientSession, *, timeout: float
    ) -> VonageReceipts:
        """Build from ``signature_secret`` and ``signature_method`` (``md5hash`` by default)."""
        method = _common.optional_text(PROVIDER, options, "signature_method", "md5hash")
        if method not in VONAGE_SIGNATURE_METHODS:
            raise PermanentSmsError(f"{PROVIDER} option 'signature_method' is not one it uses")
        return cls(secret=signature_secret(options), method=method)

    def read(self, receipt: ReceivedReceipt) -> DeliveryReport:
        """Verify the DLR's ``sig``, then read its message, status and error code."""
        fields = _receipts.fields_of(receipt)
        given = fields.pop("sig", None)
        if not isinstance(given, str) or not given:
            raise ReceiptNotAuthentic("the receipt is not signed: sig is missing")
        values = _signed_values(fields)
        if self._secret is None or values is None:
            raise ReceiptNotAuthentic(_receipts.NOT_VERIFIED)
        expected = vonage_signature(self._secret, self._method, values)
        # HMAC signatures come in upper-case hex, MD5 hashes in lower case.
        if not hmac.compare_digest(expected.encode(), given.lower().encode()):
            raise ReceiptNotAuthentic(_receipts.NOT_VERIFIED)
        dlr = _receipts.parse(VonageDeliveryReceipt, values, provider=PROVIDER)
        status = dlr.status.casefold()
        return DeliveryReport(
            provider_message_id=dlr.message_id,
            delivery=_FINAL.get(status, Delivery.PENDING),
            status=_receipts.token(status) or "unknown",
            # "0" is Vonage's "no error".
            error_code=None if dlr.err_code == "0" else _receipts.token(dlr.err_code),
            reference=_receipts.reference(dlr.client_ref),
        )

    async def confirm(self, report: DeliveryReport) -> DeliveryReport:
        """A signed receipt proves itself."""
        return report

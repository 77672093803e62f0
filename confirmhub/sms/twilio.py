"""Twilio Programmable Messaging.

Send: one ``POST .../Messages.json`` per SMS, asking for a ``StatusCallback`` when receipts
are wanted. Receipt: the ``StatusCallback`` form, signed in ``X-Twilio-Signature`` with the
account's auth token (base64 HMAC-SHA1 over the URL Twilio was given, then each POST
parameter sorted by name, name immediately followed by value).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import aiohttp
from pydantic import SecretStr
from yarl import URL

from confirmhub.sms import _common, _receipts
from confirmhub.sms.base import (
    REFERENCE_PARAMETER,
    Delivery,
    DeliveryReport,
    ReceivedReceipt,
    SmsAccepted,
    SmsMessage,
)
from confirmhub.sms.errors import (
    PermanentSmsError,
    ReceiptNotAuthentic,
    RetryableSmsError,
    SmsError,
)
from schemas.sms_receipts import TwilioStatusCallback

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
        form = {"To": to, "From": self._from, "Body": message.body}
        if message.receipt_url is not None:
            # Built as a plain string: Twilio signs the URL exactly as it is given here.
            callback = message.receipt_url
            if message.reference is not None:
                callback += f"?{REFERENCE_PARAMETER}={message.reference}"
            form["StatusCallback"] = callback
        status, payload = await _common.post(
            self._session,
            self._url,
            provider=PROVIDER,
            client_timeout=self._timeout,
            authorization=self._authorization,
            data=form,
        )
        if not 200 <= status < 300:
            raise classify_twilio_error(status, payload)
        sid = _common.message_id(payload.get("sid") if isinstance(payload, dict) else None)
        if sid is None:
            raise _common.unreadable_acceptance(PROVIDER, status)
        return SmsAccepted(provider_message_id=sid)


# MessageStatus values that are final; every other one (queued, sending, sent, accepted,
# scheduled…) says the message is on its way.
_FINAL = {
    "delivered": Delivery.DELIVERED,
    "read": Delivery.DELIVERED,
    "undelivered": Delivery.UNDELIVERED,
    "failed": Delivery.UNDELIVERED,
    "canceled": Delivery.UNDELIVERED,
}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def twilio_signature(auth_token: SecretStr, url: str, fields: Sequence[tuple[str, str]]) -> str:
    """The ``X-Twilio-Signature`` of a form POSTed to ``url``."""
    # Sorted by name, then value: how Twilio orders a parameter given more than once.
    signed = url + "".join(name + value for name, value in sorted(fields))
    key = auth_token.get_secret_value().encode()
    digest = hmac.new(key, signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_variants(url: str) -> list[str]:
    """``url`` as given, without its port, and with its (default) port: Twilio's signer is
    not consistent about an explicit port, so its own validator accepts all three."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return [url]
    bare = parts.netloc[: parts.netloc.rindex(":")] if port is not None else parts.netloc
    with_port = f"{bare}:{port or _DEFAULT_PORTS.get(parts.scheme, 443)}"
    variants = [url, urlunsplit(parts._replace(netloc=bare))]
    variants.append(urlunsplit(parts._replace(netloc=with_port)))
    return list(dict.fromkeys(variants))


class TwilioReceipts:
    """Reads Twilio's status callbacks for one account."""

    provider: str = PROVIDER
    signed: ClassVar[bool] = True

    def __init__(self, *, auth_token: SecretStr) -> None:
        self._auth_token = auth_token

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], session: aiohttp.ClientSession, *, timeout: float
    ) -> TwilioReceipts:
        """Build from ``api_secret`` (the auth token that signs the callbacks)."""
        return cls(auth_token=_common.required_secret(PROVIDER, options, "api_secret"))

    def _verifies(self, receipt: ReceivedReceipt, signature: str) -> bool:
        if receipt.url is None:  # CONFIRMHUB_PUBLIC_URL unset: the signed URL is unknown
            return False
        given = signature.encode()
        # Every variant is computed and compared, so the time taken tells nothing.
        matches = [
            hmac.compare_digest(
                twilio_signature(self._auth_token, url, receipt.fields).encode(), given
            )
            for url in _url_variants(receipt.url)
        ]
        return any(matches)

    def read(self, receipt: ReceivedReceipt) -> DeliveryReport:
        """Verify the callback's signature, then read its message, status and error code."""
        if not receipt.signature:
            raise ReceiptNotAuthentic("X-Twilio-Signature is missing")
        if not self._verifies(receipt, receipt.signature):
            raise ReceiptNotAuthentic(_receipts.NOT_VERIFIED)
        callback = _receipts.parse(
            TwilioStatusCallback, _receipts.fields_of(receipt), provider=PROVIDER
        )
        status = callback.message_status.casefold()
        assert receipt.url is not None
        query = parse_qs(urlsplit(receipt.url).query)
        return DeliveryReport(
            provider_message_id=callback.message_sid,
            delivery=_FINAL.get(status, Delivery.PENDING),
            status=_receipts.token(status) or "unknown",
            error_code=_receipts.token(callback.error_code),
            reference=_receipts.reference(next(iter(query.get(REFERENCE_PARAMETER, [])), None)),
        )

    async def confirm(self, report: DeliveryReport) -> DeliveryReport:
        """A signed callback proves itself."""
        return report

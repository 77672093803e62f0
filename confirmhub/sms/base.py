"""What an SMS adapter promises, in both directions.

Send: a ``SmsMessage`` in, the provider's ``SmsAccepted`` out (``SmsSender``).
Receipt: a ``ReceivedReceipt`` (what a provider posted to us) in, a ``DeliveryReport`` out,
authenticated by the provider's own means and, where the receipt proves nothing by itself,
confirmed with the provider (``ReceiptReader``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol

# Where a provider posts its delivery receipts, below CONFIRMHUB_PUBLIC_URL: the receiver's
# route and the URL every send asks receipts at are both made from it.
RECEIPT_PATH = "/webhooks/sms/{provider_type}/{provider_id}"
# The query parameter naming our attempt in a receipt URL (where the provider signs the URL).
REFERENCE_PARAMETER = "ref"


def receipt_url(public_url: str, provider_type: str, provider_id: int) -> str:
    """The URL a provider is asked to post its receipts for one configured provider to."""
    path = RECEIPT_PATH.format(provider_type=provider_type.casefold(), provider_id=provider_id)
    return public_url.rstrip("/") + path


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """One text to one number; ``to`` is E.164 digits with or without a leading "+".

    ``receipt_url`` asks the provider for delivery receipts there (None: no receipts), and
    ``reference`` is ours to have echoed in them (the attempt's id), where the provider can.
    """

    to: str
    body: str
    receipt_url: str | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class SmsAccepted:
    """The provider's proof that it accepted a message: the id its delivery reports carry."""

    provider_message_id: str


class SmsSender(Protocol):
    """Sends one SMS through one provider."""

    provider: str

    async def send(self, message: SmsMessage) -> SmsAccepted:
        """Hand ``message`` to the provider; an ``SmsError`` on any failure."""
        ...


class Delivery(StrEnum):
    """Where a sent SMS stands, as its receipts tell."""

    PENDING = "pending"  # on its way: queued, sent to the carrier, buffered…
    DELIVERED = "delivered"  # final: on the handset
    UNDELIVERED = "undelivered"  # final: it will not arrive (failed, expired, rejected…)

    @property
    def final(self) -> bool:
        """Whether no later receipt may change it."""
        return self is not Delivery.PENDING


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one receipt says about one message.

    ``status`` is the provider's own word for it (``delivered``, ``expired``…), and
    ``error_code`` its error code, if any: both short tokens, never provider free text.
    ``reference`` is the attempt id we gave with the send, when the receipt carries it and
    the provider signs it.
    """

    provider_message_id: str
    delivery: Delivery
    status: str
    error_code: str | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class ReceivedReceipt:
    """A receipt as it reached us.

    ``url`` is the URL the provider was given for it (CONFIRMHUB_PUBLIC_URL plus the path and
    query it arrived with), None when that is not configured; ``fields`` the form fields in
    order, or ``document`` the parsed JSON body; ``signature`` a signature header, if any.
    """

    url: str | None
    fields: Sequence[tuple[str, str]] = ()
    document: Any = None
    signature: str | None = None


class ReceiptReader(Protocol):
    """Reads one configured provider's delivery receipts."""

    provider: str
    # Whether a receipt proves itself (signed); an unsigned one is only a hint to confirm.
    signed: ClassVar[bool]

    def read(self, receipt: ReceivedReceipt) -> DeliveryReport:
        """Authenticate and parse ``receipt``; ReceiptNotAuthentic or InvalidReceipt."""
        ...

    async def confirm(self, report: DeliveryReport) -> DeliveryReport:
        """The report to record: ``report`` itself when signed, else what the provider's own
        API says of the message (ReceiptUnconfirmed if it cannot be asked)."""
        ...

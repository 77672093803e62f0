"""SMS provider adapters (Twilio, Vonage, SMSAero), each in two directions.

Send: ``build_sender(provider_type, options, session, timeout=...)`` and
``await sender.send(SmsMessage(to=..., body=...))``; failures are ``SmsError`` subclasses
that say whether another provider may try (see ``confirmhub.sms.errors``).

Receipt: ``build_receipt_reader(...)``, then ``reader.read(ReceivedReceipt(...))`` to
authenticate and parse a delivery receipt a provider posted, and ``await reader.confirm(report)``
for the report to record (a signed receipt proves itself; SMSAero's unsigned one is confirmed
with its status API); refusals are ``ReceiptError`` subclasses.

Layout::

    base        the message, the acceptance, the delivery report; the two protocols
    errors      how a send fails, how a receipt is refused
    _common     HTTP and option plumbing every adapter shares
    _receipts   what every receipt reader shares
    twilio      one provider each: its ``…Sender`` and its ``…Receipts``, the wire
    vonage        format both ways and, for receipts, how the provider signs them
    smsaero
    adapters    provider type → its adapter (sender and receipt reader)

Adapters import ``base``, ``errors``, ``_common`` and ``_receipts``, never the other way
round. Nothing here imports ``receiver`` or ``worker``: the worker sends, the receiver
takes receipts.
"""

from confirmhub.sms.adapters import build_receipt_reader, build_sender, signs_receipts
from confirmhub.sms.base import (
    Delivery,
    DeliveryReport,
    ReceiptReader,
    ReceivedReceipt,
    SmsAccepted,
    SmsMessage,
    SmsSender,
    receipt_url,
)
from confirmhub.sms.errors import (
    InvalidReceipt,
    PermanentSmsError,
    ReceiptError,
    ReceiptNotAuthentic,
    ReceiptUnconfirmed,
    RetryableSmsError,
    SmsError,
    UnconfirmedSmsError,
)

__all__ = [
    "Delivery",
    "DeliveryReport",
    "InvalidReceipt",
    "PermanentSmsError",
    "ReceiptError",
    "ReceiptNotAuthentic",
    "ReceiptReader",
    "ReceiptUnconfirmed",
    "ReceivedReceipt",
    "RetryableSmsError",
    "SmsAccepted",
    "SmsError",
    "SmsMessage",
    "SmsSender",
    "UnconfirmedSmsError",
    "build_receipt_reader",
    "build_sender",
    "receipt_url",
    "signs_receipts",
]

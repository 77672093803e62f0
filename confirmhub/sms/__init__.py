"""SMS provider adapters (Twilio, Vonage, SMSAero) that send a code when a password call fails.

Build one with ``build_sender(provider_type, options, session, timeout=...)`` and call
``await sender.send(SmsMessage(to=..., body=...))``; failures are ``SmsError`` subclasses
that say whether another provider may try (see ``confirmhub.sms.errors``).

Layout: ``base`` (message, receipt, the sender protocol) and ``errors`` are what every
adapter speaks; ``_common`` is the HTTP and option plumbing they share; ``twilio``,
``vonage`` and ``smsaero`` each hold one provider's wire format: its outbound ``…Sender``,
and the place for its inbound delivery receipts; ``senders`` maps a provider type to its
adapter (adapters import ``base``, ``errors`` and ``_common``, never the other way round).
"""

from confirmhub.sms.adapters import build_sender
from confirmhub.sms.base import SmsAccepted, SmsMessage, SmsSender
from confirmhub.sms.errors import (
    PermanentSmsError,
    RetryableSmsError,
    SmsError,
    UnconfirmedSmsError,
)

__all__ = [
    "PermanentSmsError",
    "RetryableSmsError",
    "SmsAccepted",
    "SmsError",
    "SmsMessage",
    "SmsSender",
    "UnconfirmedSmsError",
    "build_sender",
]

"""SMS provider adapters (Twilio, Vonage, SMSAero) that send a code when a password call fails.

Build one with ``build_sender(provider_type, options, session, timeout=...)`` and call
``await sender.send(SmsMessage(to=..., body=...))``; failures are ``SmsError`` subclasses
that say whether to retry.
"""

from worker.sms.base import (
    PermanentSmsError,
    RetryableSmsError,
    SmsError,
    SmsMessage,
    SmsReceipt,
    SmsSender,
    build_sender,
)

__all__ = [
    "PermanentSmsError",
    "RetryableSmsError",
    "SmsError",
    "SmsMessage",
    "SmsReceipt",
    "SmsSender",
    "build_sender",
]

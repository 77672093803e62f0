"""What an SMS adapter promises, how its sends fail, and the factory that builds one.

SmsError                 ``.retryable`` and a ``.reason`` safe to log and publish
├── RetryableSmsError    timeout, connection error, 5xx, throttling: try again later
└── PermanentSmsError    bad credentials, number, request or account; or an answer that
                         says the provider took the message but cannot be read

A ``reason`` is built only from our own words, HTTP statuses and provider error codes, never
from provider free text: providers echo the destination number (Twilio's 21211 does) and could
echo the body, which carries the verification code.

A timeout is retried although the provider might have taken the message before it: none of
these APIs offers an idempotency key, and a missing code blocks the user. A 2xx we cannot
read is final instead, because there the provider certainly processed the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import aiohttp


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """One text to one number; ``to`` is E.164 digits with or without a leading "+"."""

    to: str
    body: str


@dataclass(frozen=True, slots=True)
class SmsReceipt:
    """The provider's proof that it accepted a message."""

    provider_message_id: str


class SmsError(Exception):
    """Root of SMS sending failures; ``retryable`` says whether to try again later."""

    retryable: ClassVar[bool] = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryableSmsError(SmsError):
    """A transient failure: the same message may succeed later."""

    retryable = True


class PermanentSmsError(SmsError):
    """The message will not succeed by sending it again."""

    retryable = False


class SmsSender(Protocol):
    """Sends one SMS through one provider."""

    provider: str

    async def send(self, message: SmsMessage) -> SmsReceipt:
        """Hand ``message`` to the provider; SmsError on any failure."""
        ...


def build_sender(
    provider_type: str,
    options: Mapping[str, Any],
    session: aiohttp.ClientSession,
    *,
    timeout: float,
) -> SmsSender:
    """The sender for ``provider_type`` configured by ``options``; PermanentSmsError if invalid."""
    # Imported here because every adapter imports this module for the errors above.
    from worker.sms.smsaero import SmsAeroSender
    from worker.sms.twilio import TwilioSender
    from worker.sms.vonage import VonageSender

    senders: dict[str, type[TwilioSender | VonageSender | SmsAeroSender]] = {
        "twilio": TwilioSender,
        "vonage": VonageSender,
        "smsaero": SmsAeroSender,
    }
    sender = senders.get(provider_type.casefold())
    if sender is None:
        raise PermanentSmsError(f"unknown SMS provider type {provider_type[:40]!r}")
    return sender.from_options(options, session, timeout=timeout)

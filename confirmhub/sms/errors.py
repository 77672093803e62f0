"""How a send through one provider fails, and what that says about the message; and how
a delivery receipt is refused.

SmsError                    ``.retryable`` and a ``.reason`` safe to log and publish
├── RetryableSmsError       the provider did not take the message and another may try:
│                           no connection, a timeout while connecting, 429, 5xx, throttling
└── PermanentSmsError       the provider did not take it and no other provider should try:
    │                       credentials, number, request or account
    └── UnconfirmedSmsError the provider may have taken it: the request went out and no
                            readable answer came back (a timeout or a dropped connection
                            before the status, or a 2xx whose body cannot be read)

A ``reason`` is built only from our own words, HTTP statuses and provider error codes, never
from provider free text: providers echo the destination number (Twilio's 21211 does) and could
echo the body, which carries the verification code.

None of these APIs takes an idempotency key, so a request that may have reached the provider
is never repeated, there or elsewhere: an unconfirmed send is final. Better one missing SMS
than two. Only a failure that proves nothing was taken lets the next provider try.

ReceiptError                a delivery receipt is not recorded; ``reason`` is safe to show
├── ReceiptNotAuthentic     its signature is missing or does not verify (or cannot be
│                           checked: no such provider, no secret to check it with)
├── InvalidReceipt          authentic, but not a receipt we can read (fields missing)
└── ReceiptUnconfirmed      an unsigned receipt whose status the provider's own API did not
                            confirm (unreachable, refused, or it knows no such message)
"""

from __future__ import annotations

from typing import ClassVar


class SmsError(Exception):
    """Root of SMS sending failures; ``retryable`` says whether another provider may try."""

    retryable: ClassVar[bool] = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryableSmsError(SmsError):
    """Nothing was taken: the same message may succeed later or through another provider."""

    retryable = True


class PermanentSmsError(SmsError):
    """The message will not be sent by trying again."""

    retryable = False


class UnconfirmedSmsError(PermanentSmsError):
    """The provider may have taken the message: it must not be sent again anywhere."""


class ReceiptError(Exception):
    """Root of delivery receipt refusals."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReceiptNotAuthentic(ReceiptError):
    """The receipt's signature is missing or does not verify."""


class InvalidReceipt(ReceiptError):
    """The receipt is authentic but lacks what a receipt must say."""


class ReceiptUnconfirmed(ReceiptError):
    """The provider's API did not confirm an unsigned receipt; it may be sent again later."""

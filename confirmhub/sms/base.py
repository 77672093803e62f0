"""What an SMS adapter promises: a message in, the provider's receipt out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """One text to one number; ``to`` is E.164 digits with or without a leading "+"."""

    to: str
    body: str


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

"""The sender of each provider type, built from a stored provider's options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from confirmhub.sms.base import SmsSender
from confirmhub.sms.errors import PermanentSmsError
from confirmhub.sms.smsaero import SmsAeroSender
from confirmhub.sms.twilio import TwilioSender
from confirmhub.sms.vonage import VonageSender

SENDERS: dict[str, type[TwilioSender | VonageSender | SmsAeroSender]] = {
    "twilio": TwilioSender,
    "vonage": VonageSender,
    "smsaero": SmsAeroSender,
}


def build_sender(
    provider_type: str,
    options: Mapping[str, Any],
    session: aiohttp.ClientSession,
    *,
    timeout: float,
) -> SmsSender:
    """The sender for ``provider_type`` configured by ``options``; PermanentSmsError if invalid."""
    sender = SENDERS.get(provider_type.casefold())
    if sender is None:
        raise PermanentSmsError(f"unknown SMS provider type {provider_type[:40]!r}")
    return sender.from_options(options, session, timeout=timeout)

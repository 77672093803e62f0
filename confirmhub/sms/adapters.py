"""Each provider type's adapter, both directions: its sender and its receipt reader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from confirmhub.sms.base import ReceiptReader, SmsSender
from confirmhub.sms.errors import PermanentSmsError
from confirmhub.sms.smsaero import SmsAeroReceipts, SmsAeroSender
from confirmhub.sms.twilio import TwilioReceipts, TwilioSender
from confirmhub.sms.vonage import VonageReceipts, VonageSender


@dataclass(frozen=True, slots=True)
class Adapter:
    """One provider type: what sends through it, and what reads the receipts it posts back."""

    sender: type[TwilioSender | VonageSender | SmsAeroSender]
    receipts: type[TwilioReceipts | VonageReceipts | SmsAeroReceipts]


# By provider type, case-folded: also the type's segment in a receipt URL.
ADAPTERS: dict[str, Adapter] = {
    "twilio": Adapter(TwilioSender, TwilioReceipts),
    "vonage": Adapter(VonageSender, VonageReceipts),
    "smsaero": Adapter(SmsAeroSender, SmsAeroReceipts),
}


def _adapter(provider_type: str) -> Adapter:
    adapter = ADAPTERS.get(provider_type.casefold())
    if adapter is None:
        raise PermanentSmsError(f"unknown SMS provider type {provider_type[:40]!r}")
    return adapter


def build_sender(
    provider_type: str,
    options: Mapping[str, Any],
    session: aiohttp.ClientSession,
    *,
    timeout: float,
) -> SmsSender:
    """The sender for ``provider_type`` configured by ``options``; PermanentSmsError if invalid."""
    return _adapter(provider_type).sender.from_options(options, session, timeout=timeout)


def build_receipt_reader(
    provider_type: str,
    options: Mapping[str, Any],
    session: aiohttp.ClientSession,
    *,
    timeout: float,
) -> ReceiptReader:
    """The receipt reader for ``provider_type`` configured by ``options`` (the session and
    timeout serve readers that confirm with the provider); PermanentSmsError if invalid."""
    return _adapter(provider_type).receipts.from_options(options, session, timeout=timeout)


def signs_receipts(provider_type: str) -> bool:
    """Whether the provider type signs its receipts (else they are hints to confirm)."""
    return _adapter(provider_type).receipts.signed

"""How a fallback SMS ended, decided from its attempts alone: plain functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from confirmhub.db.sms_attempts import FINAL_STATES, AttemptState, SmsAttempt
from confirmhub.sms import RetryableSmsError, SmsError, UnconfirmedSmsError

# The confirmhub_sms_sends_total result of each way an attempt ends.
SEND_RESULTS: dict[str, str] = {
    "accepted": "sent",
    "failed": "retryable_error",
    "refused": "permanent_error",
    "unconfirmed": "unconfirmed",
}


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one fallback SMS ended."""

    sent: bool
    provider: str | None = None
    provider_message_id: str | None = None
    error: str | None = None


def delivery_of(attempts: Sequence[SmsAttempt], skipped: Sequence[str] = ()) -> Delivery:
    """How an SMS ended, from its attempts and the providers skipped without a request.

    Sent if an attempt was accepted; otherwise failed, naming the provider whose attempt
    ended it (refused or unconfirmed), or none when every provider failed or was skipped.
    """
    for attempt in attempts:
        if attempt.state == "accepted":
            return Delivery(
                sent=True,
                provider=attempt.provider_name,
                provider_message_id=attempt.provider_message_id,
            )
    errors = [f"{attempt.provider_name}: {attempt.error}" for attempt in attempts]
    final = next((attempt for attempt in attempts if attempt.state in FINAL_STATES), None)
    return Delivery(
        sent=False,
        provider=None if final is None else final.provider_name,
        error="; ".join([*errors, *skipped]) or "no usable SMS provider",
    )


def attempt_state(error: SmsError) -> AttemptState:
    """The state an attempt ends in when its send failed with ``error``."""
    if isinstance(error, UnconfirmedSmsError):
        return "unconfirmed"
    return "failed" if isinstance(error, RetryableSmsError) else "refused"

"""How an SMS ended, read from its attempts: the rule the fallback and its takeover share."""

from __future__ import annotations

import datetime as dt

import pytest

from confirmhub.db.sms_attempts import SmsAttempt
from confirmhub.sms import PermanentSmsError, RetryableSmsError, SmsError, UnconfirmedSmsError
from worker.sms_delivery import Delivery, attempt_state, delivery_of

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def attempt(number: int, provider: str, state: str, **fields: str) -> SmsAttempt:
    """Attempt ``number`` through ``provider``, ended in ``state``."""
    return SmsAttempt(
        attempt_id=f"a{number}",
        verification_call_uuid="5a5a00000001_117793",
        attempt_no=number,
        claim=1,
        provider_id=number,
        provider_name=provider,
        provider_type="Twilio",
        state=state,
        provider_message_id=fields.get("message_id"),
        error=fields.get("error"),
        started_at=NOW,
        finished_at=NOW,
    )


def test_an_accepted_attempt_means_sent_with_its_message_id() -> None:
    attempts = [
        attempt(1, "twilio", "failed", error="Twilio answered 503"),
        attempt(2, "vonage", "accepted", message_id="0A00000012345678"),
    ]
    assert delivery_of(attempts) == Delivery(
        sent=True, provider="vonage", provider_message_id="0A00000012345678"
    )


@pytest.mark.parametrize("state", ["refused", "unconfirmed"])
def test_a_final_failure_names_its_provider_and_every_error(state: str) -> None:
    attempts = [
        attempt(1, "twilio", "failed", error="Twilio answered 503"),
        attempt(2, "vonage", state, error="Vonage status 4"),
    ]
    assert delivery_of(attempts, ["smsaero: no key"]) == Delivery(
        sent=False,
        provider="vonage",
        error="twilio: Twilio answered 503; vonage: Vonage status 4; smsaero: no key",
    )


def test_when_every_provider_failed_or_was_skipped_none_is_named() -> None:
    attempts = [attempt(1, "twilio", "failed", error="Twilio unreachable")]
    assert delivery_of(attempts, ["vonage: cannot decrypt"]) == Delivery(
        sent=False, error="twilio: Twilio unreachable; vonage: cannot decrypt"
    )
    assert delivery_of([]) == Delivery(sent=False, error="no usable SMS provider")


@pytest.mark.parametrize(
    ("error", "state"),
    [
        (RetryableSmsError("503"), "failed"),
        (PermanentSmsError("401"), "refused"),
        (UnconfirmedSmsError("timeout"), "unconfirmed"),
    ],
)
def test_each_send_error_ends_its_attempt_in_its_state(error: SmsError, state: str) -> None:
    assert attempt_state(error) == state

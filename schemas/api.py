"""Bodies of our own HTTP API responses."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from schemas.base import OwnModel
from schemas.events import CallOutcome

PasswordCallStatus = Literal["calling", "completed", "canceled"]
SmsDelivery = Literal["pending", "delivered", "undelivered"]
VerificationStatus = Literal["pending", "approved", "max_attempts_reached", "expired", "canceled"]


class Problem(OwnModel):
    """An RFC 9457 problem detail."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None
    # ``live-call``: the call to the number that still awaits its CDR.
    verification_call_uuid: str | None = None
    # The ``429`` refusals: the Retry-After seconds, in the body too.
    retry_after: int | None = None


class SmsAttemptView(OwnModel):
    """One request to a provider for a call's SMS, and what its receipts said."""

    provider: str
    # 1 for the first SMS, 2 for a failover after it went undelivered.
    round: int
    # sending, accepted, failed (not taken), refused (not taken; final), unconfirmed (may
    # have been taken).
    state: str
    provider_message_id: str | None
    delivery: SmsDelivery | None
    # The provider's own words for the delivery.
    delivery_status: str | None
    delivery_error_code: str | None
    delivery_updated_at: dt.datetime | None


class PasswordCallView(OwnModel):
    """A password call's state as ``GET /api/v1/password-calls/{uuid}`` shows it."""

    verification_call_uuid: str
    call_id: str
    account_id: str
    status: PasswordCallStatus
    outcome: CallOutcome | None
    phone_number: str | None
    q931_status: int | None
    final_status: str | None
    q850_cause: str | None
    verification_status: VerificationStatus
    sms_status: str | None
    sms_provider: str | None
    # What the receipts of the call's latest SMS say (null: none came, or none was asked).
    sms_delivery: SmsDelivery | None
    # Every request made to a provider for the call's SMS, in order.
    sms_attempts: list[SmsAttemptView]
    initiated_at: dt.datetime | None
    completed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CodeCheckResult(OwnModel):
    """The answer of a code check."""

    valid: bool
    status: VerificationStatus
    attempts_left: int


class WebhookAccepted(OwnModel):
    """The ``202`` body of a webhook: how many items were made durable."""

    accepted: int
    request_id: str

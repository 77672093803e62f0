"""Bodies of our own HTTP API responses."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from schemas.base import OwnModel
from schemas.events import CallOutcome

PasswordCallStatus = Literal["calling", "completed"]
VerificationStatus = Literal["pending", "approved", "max_attempts_reached", "expired"]


class Problem(OwnModel):
    """An RFC 9457 problem detail."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


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

"""Downstream events published to the ``confirmhub.events`` topic exchange."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import StringConstraints

from schemas import limits
from schemas.base import OwnModel
from schemas.bitrix24 import MethodConfirmationData

EVENTS_EXCHANGE = "confirmhub.events"

# Fixed namespace so that one state transition always yields the same event id.
_EVENT_NAMESPACE = uuid.UUID("6f1d3c1e-52a4-4b8e-9a57-3f0c8f3f4a11")


class CallOutcome(StrEnum):
    """How a password call ended, from its Q.931 status and final status."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    BILLING_FAILED = "billing_failed"
    UNAVAILABLE = "unavailable"
    # No CDR arrived within CONFIRMHUB_CDR_TIMEOUT_SECONDS: the call was ended without one.
    NO_CDR = "no_cdr"


def event_id_for(*natural_key: str) -> uuid.UUID:
    """A deterministic event id: a UUIDv5 of the transition's natural key."""
    return uuid.uuid5(_EVENT_NAMESPACE, "\x1f".join(natural_key))


class PasswordCallOutcomeData(OwnModel):
    """``data`` of ``password_call.<outcome>``."""

    verification_call_uuid: str
    call_id: str
    account_id: str
    phone_number: str | None
    q931_status: int
    final_status: str | None
    outcome: CallOutcome
    q850_cause: str


class PasswordCallNoCdrData(OwnModel):
    """``data`` of ``password_call.no_cdr``: the outcome event's fields, without a CDR's."""

    verification_call_uuid: str
    call_id: str
    account_id: str
    phone_number: str | None
    q931_status: None
    final_status: None
    outcome: Literal[CallOutcome.NO_CDR]
    q850_cause: None


class PasswordCallApprovedData(OwnModel):
    """``data`` of ``password_call.approved``: the user entered the right code."""

    verification_call_uuid: str
    call_id: str
    account_id: str
    phone_number: str | None


class PasswordCallCanceledData(OwnModel):
    """``data`` of ``password_call.canceled``: the verification was canceled through the API."""

    verification_call_uuid: str
    call_id: str
    account_id: str
    phone_number: str | None


class PasswordCallSmsData(OwnModel):
    """``data`` of ``password_call.sms_sent`` and ``password_call.sms_failed``."""

    verification_call_uuid: str
    provider: str | None
    provider_message_id: str | None
    error: str | None


class PasswordCallSmsDeliveryData(OwnModel):
    """``data`` of ``password_call.sms_delivered`` and ``password_call.sms_undelivered``."""

    verification_call_uuid: str
    provider: str
    provider_message_id: str
    # The provider's own word for it (``delivered``, ``undelivered``, ``expired``…).
    status: str
    error_code: str | None


class EventEnvelope(OwnModel):
    """The body of every downstream event."""

    event_id: uuid.UUID
    type: Annotated[str, StringConstraints(max_length=limits.ROUTING_KEY)]
    occurred_at: dt.datetime
    schema_version: Literal[1] = 1
    data: (
        PasswordCallOutcomeData
        | PasswordCallNoCdrData
        | PasswordCallApprovedData
        | PasswordCallCanceledData
        | PasswordCallSmsData
        | PasswordCallSmsDeliveryData
        | MethodConfirmationData
    )

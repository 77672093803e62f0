"""Building downstream events from stored state transitions."""

from __future__ import annotations

import datetime as dt

from confirmhub.db.bitrix24 import MethodConfirmationRecord
from confirmhub.db.sms_attempts import SmsAttempt
from confirmhub.db.store import OutboxEvent, PasswordCallRecord
from confirmhub.outcomes import q850_cause_name
from schemas.bitrix24 import MethodConfirmationData, method_confirmation_event_type
from schemas.events import (
    CallOutcome,
    EventEnvelope,
    PasswordCallApprovedData,
    PasswordCallCanceledData,
    PasswordCallNoCdrData,
    PasswordCallOutcomeData,
    PasswordCallSmsData,
    PasswordCallSmsDeliveryData,
    event_id_for,
)


def password_call_outcome_event(
    record: PasswordCallRecord, *, correlation_id: str | None
) -> OutboxEvent:
    """``password_call.<outcome>`` for a call whose CDR was just recorded, or
    ``password_call.no_cdr`` for one the CDR timeout just ended."""
    assert record.outcome is not None
    if record.outcome == CallOutcome.NO_CDR:
        return _no_cdr_event(record)
    assert record.q931_status is not None
    assert record.completed_at is not None
    outcome = CallOutcome(record.outcome)
    routing_key = f"password_call.{outcome.value}"
    envelope = EventEnvelope(
        # One outcome per call, so the call alone keys the transition.
        event_id=event_id_for("password_call.completed", record.verification_call_uuid),
        type=routing_key,
        occurred_at=record.completed_at,
        data=PasswordCallOutcomeData(
            verification_call_uuid=record.verification_call_uuid,
            call_id=record.call_id,
            account_id=record.account_id,
            phone_number=record.phone_number,
            q931_status=record.q931_status,
            final_status=record.final_status,
            outcome=outcome,
            q850_cause=q850_cause_name(record.q931_status),
        ),
    )
    return _outbox_event(envelope, correlation_id=correlation_id)


def _no_cdr_event(record: PasswordCallRecord) -> OutboxEvent:
    assert record.completed_at is not None
    envelope = EventEnvelope(
        # The call's one outcome: the same key as a CDR's, which can no longer publish.
        event_id=event_id_for("password_call.completed", record.verification_call_uuid),
        type=f"password_call.{CallOutcome.NO_CDR.value}",
        occurred_at=record.completed_at,
        data=PasswordCallNoCdrData(
            verification_call_uuid=record.verification_call_uuid,
            call_id=record.call_id,
            account_id=record.account_id,
            phone_number=record.phone_number,
            q931_status=None,
            final_status=None,
            outcome=CallOutcome.NO_CDR,
            q850_cause=None,
        ),
    )
    return _outbox_event(envelope, correlation_id=None)


def password_call_canceled_event(
    record: PasswordCallRecord, *, correlation_id: str | None
) -> OutboxEvent:
    """``password_call.canceled``: the verification was canceled (once per call)."""
    return _call_milestone_event(
        "password_call.canceled",
        record,
        record.updated_at,
        PasswordCallCanceledData,
        correlation_id=correlation_id,
    )


def _call_milestone_event(
    event_type: str,
    record: PasswordCallRecord,
    occurred_at: dt.datetime,
    data_model: type[PasswordCallApprovedData | PasswordCallCanceledData],
    *,
    correlation_id: str | None,
) -> OutboxEvent:
    """A once-per-call event whose data names the call (approved, canceled)."""
    return _outbox_event(
        EventEnvelope(
            event_id=event_id_for(event_type, record.verification_call_uuid),
            type=event_type,
            occurred_at=occurred_at,
            data=data_model(
                verification_call_uuid=record.verification_call_uuid,
                call_id=record.call_id,
                account_id=record.account_id,
                phone_number=record.phone_number,
            ),
        ),
        correlation_id=correlation_id,
    )


def method_confirmation_event(
    record: MethodConfirmationRecord, *, correlation_id: str | None
) -> OutboxEvent:
    """``method_confirmation.confirmed`` or ``.denied`` for a decision just recorded."""
    assert record.decided_at is not None
    assert record.source_ts is not None
    routing_key = method_confirmation_event_type(confirmed=record.status == "confirmed")
    envelope = EventEnvelope(
        # A decision is final for its token, so portal, token and method key the transition.
        event_id=event_id_for(
            "method_confirmation.decided", record.member_id, record.token_sha256, record.method
        ),
        type=routing_key,
        occurred_at=record.decided_at,
        data=MethodConfirmationData(
            member_id=record.member_id,
            domain=record.domain,
            method=record.method,
            token_sha256=record.token_sha256,
            language_id=record.language_id,
            source_ts=record.source_ts,
        ),
    )
    return _outbox_event(envelope, correlation_id=correlation_id)


def password_call_approved_event(
    record: PasswordCallRecord, *, correlation_id: str | None
) -> OutboxEvent:
    """``password_call.approved``: the right code was entered (once per call)."""
    assert record.approved_at is not None
    return _call_milestone_event(
        "password_call.approved",
        record,
        record.approved_at,
        PasswordCallApprovedData,
        correlation_id=correlation_id,
    )


def password_call_sms_event(record: PasswordCallRecord) -> OutboxEvent:
    """``password_call.sms_sent`` or ``.sms_failed`` for the call's fallback SMS: once for
    the first SMS, and once more for a failover after it went undelivered."""
    assert record.sms_updated_at is not None
    routing_key = f"password_call.sms_{record.sms_status}"
    # The first round keeps the key it always had, so ids published before stay the same.
    rounds = () if record.sms_round == 1 else ("round", str(record.sms_round))
    return _outbox_event(
        EventEnvelope(
            event_id=event_id_for("password_call.sms", record.verification_call_uuid, *rounds),
            type=routing_key,
            occurred_at=record.sms_updated_at,
            data=PasswordCallSmsData(
                verification_call_uuid=record.verification_call_uuid,
                provider=record.sms_provider,
                provider_message_id=record.sms_message_id,
                error=record.sms_error,
            ),
        ),
        correlation_id=None,
    )


def password_call_sms_delivery_event(
    attempt: SmsAttempt, *, correlation_id: str | None
) -> OutboxEvent:
    """``password_call.sms_delivered`` or ``.sms_undelivered``: an SMS's final receipt (once
    per SMS sent)."""
    assert attempt.delivery in ("delivered", "undelivered")
    assert attempt.delivery_updated_at is not None
    assert attempt.provider_message_id is not None
    assert attempt.delivery_status is not None
    routing_key = f"password_call.sms_{attempt.delivery}"
    return _outbox_event(
        EventEnvelope(
            # One final delivery per provider request, so the attempt keys the transition.
            event_id=event_id_for("password_call.sms_delivery", attempt.attempt_id),
            type=routing_key,
            occurred_at=attempt.delivery_updated_at,
            data=PasswordCallSmsDeliveryData(
                verification_call_uuid=attempt.verification_call_uuid,
                provider=attempt.provider_name,
                provider_message_id=attempt.provider_message_id,
                status=attempt.delivery_status,
                error_code=attempt.delivery_error_code,
            ),
        ),
        correlation_id=correlation_id,
    )


def _outbox_event(envelope: EventEnvelope, *, correlation_id: str | None) -> OutboxEvent:
    return OutboxEvent(
        event_id=str(envelope.event_id),
        routing_key=envelope.type,
        body=envelope.model_dump_json().encode(),
        correlation_id=correlation_id,
        created_at=envelope.occurred_at,
    )

"""Correlating a CDR with its call: plain functions over the store, no broker."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog

from confirmhub import metrics
from confirmhub.db import verification
from confirmhub.db.store import OutboxEvent, Store
from confirmhub.events import password_call_outcome_event
from confirmhub.outcomes import classify_call_outcome
from schemas.events import CallOutcome
from schemas.inbound import InboundCdr
from schemas.mcn import split_verification_call_uuid


@dataclass(frozen=True, slots=True)
class CdrRecorded:
    """What recording a CDR changed: the event to publish, and whether an SMS is now due."""

    event: OutboxEvent
    sms_queued: bool


async def record_cdr(
    message: InboundCdr,
    store: Store,
    *,
    now: dt.datetime,
    sms_outcomes: frozenset[CallOutcome] = frozenset(),
) -> CdrRecorded | None:
    """Store the call's outcome, its event and any SMS fallback in one transaction.

    None for a call that already has an outcome (a duplicate changes nothing)."""
    cdr = message.cdr
    outcome = classify_call_outcome(cdr.q931_status, cdr.final_status)
    call_id, account_id = split_verification_call_uuid(cdr.verification_call_uuid)
    structlog.contextvars.bind_contextvars(verification_call_uuid=cdr.verification_call_uuid)
    async with store.transaction() as tx:
        record = await tx.complete_password_call(
            verification_call_uuid=cdr.verification_call_uuid,
            call_id=call_id,
            account_id=account_id,
            outcome=outcome.value,
            q931_status=cdr.q931_status,
            final_status=cdr.final_status,
            now=now,
        )
        if record is None:
            structlog.contextvars.bind_contextvars(outcome=outcome.value, duplicate=True)
            return None
        event = password_call_outcome_event(record, correlation_id=message.request_id)
        await tx.add_outbox_event(event)
        sms_queued = outcome in sms_outcomes and await verification.queue_sms(
            tx.connection, cdr.verification_call_uuid, now=now
        )
    structlog.contextvars.bind_contextvars(
        outcome=outcome.value,
        duplicate=False,
        initiated_here=record.initiated_at is not None,
        event_id=event.event_id,
        sms_queued=sms_queued,
    )
    metrics.CALL_OUTCOMES.labels(outcome.value).inc()
    return CdrRecorded(event=event, sms_queued=sms_queued)

"""Correlating a CDR with its call: plain functions over the store, no broker."""

from __future__ import annotations

import datetime as dt

import structlog

from confirmhub.db.store import OutboxEvent, Store
from confirmhub.outcomes import classify_call_outcome
from schemas.inbound import InboundCdr
from schemas.mcn import split_verification_call_uuid
from worker.events import password_call_outcome_event


async def record_cdr(message: InboundCdr, store: Store, *, now: dt.datetime) -> OutboxEvent | None:
    """Store the call's outcome and queue its event; None for a call that already has one."""
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
    structlog.contextvars.bind_contextvars(
        outcome=outcome.value,
        duplicate=False,
        initiated_here=record.initiated_at is not None,
        event_id=event.event_id,
    )
    return event

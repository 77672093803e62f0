"""Correlating CDRs with their calls: plain functions over the store, no broker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confirmhub import metrics
from confirmhub.db.store import CallCompletion, OutboxEvent, Store
from confirmhub.events import password_call_outcome_event
from confirmhub.outcomes import classify_call_outcome
from schemas.events import CallOutcome
from schemas.inbound import InboundCdr
from schemas.mcn import split_verification_call_uuid


@dataclass(frozen=True, slots=True)
class CdrRecorded:
    """What recording one CDR changed: its event (None for a duplicate), whether an SMS is
    now due, and what its ``message.handled`` line tells."""

    event: OutboxEvent | None
    sms_queued: bool
    log_fields: dict[str, Any]


def _completion(message: InboundCdr, sms_outcomes: frozenset[CallOutcome]) -> CallCompletion:
    cdr = message.cdr
    outcome = classify_call_outcome(cdr.q931_status, cdr.final_status)
    call_id, account_id = split_verification_call_uuid(cdr.verification_call_uuid)
    return CallCompletion(
        verification_call_uuid=cdr.verification_call_uuid,
        call_id=call_id,
        account_id=account_id,
        outcome=outcome.value,
        q931_status=cdr.q931_status,
        final_status=cdr.final_status,
        wants_sms=outcome in sms_outcomes,
    )


async def record_cdrs(
    messages: Sequence[InboundCdr],
    store: Store,
    *,
    now: dt.datetime,
    sms_outcomes: frozenset[CallOutcome] = frozenset(),
    published: Sequence[str] = (),
) -> list[CdrRecorded]:
    """Store the calls' outcomes, their events and any SMS fallbacks in one transaction,
    marking ``published`` (ids of events the broker confirmed earlier) in it too.

    One result per message, in order; a CDR for a call that already has an outcome (also
    one earlier in ``messages``) changes nothing and has no event."""
    completions = [_completion(message, sms_outcomes) for message in messages]
    async with store.transaction() as tx:
        await tx.mark_published(published, now=now)
        completed = await tx.complete_password_calls(completions, now=now)
        events = [
            None
            if call is None or call.late
            else password_call_outcome_event(call.record, correlation_id=message.request_id)
            for message, call in zip(messages, completed, strict=True)
        ]
        await tx.add_outbox_events([event for event in events if event is not None])
    results = []
    for completion, call, event in zip(completions, completed, events, strict=True):
        if call is not None and call.late:
            # Stored for operators; the call ended without it, so it publishes nothing.
            results.append(
                CdrRecorded(
                    event=None,
                    sms_queued=False,
                    log_fields={"outcome": completion.outcome, "duplicate": False, "late": True},
                )
            )
            continue
        if call is None or event is None:
            results.append(
                CdrRecorded(
                    event=None,
                    sms_queued=False,
                    log_fields={"outcome": completion.outcome, "duplicate": True},
                )
            )
            continue
        metrics.CALL_OUTCOMES.labels(completion.outcome).inc()
        results.append(
            CdrRecorded(
                event=event,
                sms_queued=call.sms_queued,
                log_fields={
                    "outcome": completion.outcome,
                    "duplicate": False,
                    "initiated_here": call.record.initiated_at is not None,
                    "event_id": event.event_id,
                    "sms_queued": call.sms_queued,
                },
            )
        )
    return results

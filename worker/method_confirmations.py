"""Recording Bitrix24 method decisions: plain functions over the store, no broker."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import structlog

from confirmhub.db import bitrix24 as db
from confirmhub.db.store import OutboxEvent, Store
from confirmhub.events import method_confirmation_event
from schemas.bitrix24 import InboundMethodConfirm

log = structlog.get_logger("confirmhub.worker")


async def record_method_decision(
    message: InboundMethodConfirm, store: Store, *, now: dt.datetime
) -> OutboxEvent | None:
    """Store the decision and queue its event; None when the token was already decided."""
    status: Literal["confirmed", "denied"] = "confirmed" if message.confirmed else "denied"
    structlog.contextvars.bind_contextvars(
        member_id=message.member_id,
        method=message.method,
        token_sha256=message.token_sha256,
        decision=status,
    )
    async with store.transaction() as tx:
        decision = await db.decide_method_confirmation(
            tx.connection,
            member_id=message.member_id,
            token_sha256=message.token_sha256,
            method=message.method,
            status=status,
            domain=message.domain,
            language_id=message.language_id,
            source_ts=message.source_ts,
            now=now,
        )
        if not decision.applied:
            # Final for its token: a replay or a contradiction is kept only in the log.
            log.warning(
                "method_confirmation.decision_ignored",
                stored_status=decision.record.status,
                contradicts=decision.record.status != status,
                source_ts=message.source_ts,
            )
            structlog.contextvars.bind_contextvars(duplicate=True)
            return None
        event = method_confirmation_event(decision.record, correlation_id=message.request_id)
        await tx.add_outbox_events([event])
    structlog.contextvars.bind_contextvars(duplicate=False, event_id=event.event_id)
    return event

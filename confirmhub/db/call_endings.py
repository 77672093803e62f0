"""Ending a verification without a CDR: canceled through the API, or timed out waiting.

Both are one conditional update each, so a cancel racing a code check, or two workers
sweeping at once, end a call once: whoever's update changed the row owns the transition and
its event. A CDR that arrives afterwards is stored but publishes and sends nothing
(``Transaction.complete_password_calls``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from confirmhub.db.store import CompletedCall, PasswordCallRecord, record_from_row
from confirmhub.db.tables import password_calls
from confirmhub.db.verification import NOT_CANCELED, SMS_CANCELED
from schemas.events import CallOutcome

_calls = password_calls.c
# Closed for good: approved cannot be canceled (409), canceled is canceled once.
_FINAL = ("approved", "canceled")


@dataclass(frozen=True, slots=True)
class Cancellation:
    """A call after a cancel: ``changed`` if this cancel is the one that canceled it."""

    record: PasswordCallRecord
    changed: bool


async def cancel_call(
    connection: AsyncConnection, verification_call_uuid: str, *, now: dt.datetime
) -> Cancellation | None:
    """Cancel the call's verification unless it was approved; None for an unknown call.

    A queued SMS is dropped with it; one being sent finishes its request in flight, and
    starts no other (``sms_attempts.start_attempt``).
    """
    call = _calls.verification_call_uuid == verification_call_uuid
    row = (
        await connection.execute(
            password_calls.update()
            .where(call, _calls.verification_status.not_in(_FINAL))
            .values(
                verification_status="canceled",
                updated_at=now,
                sms_status=sa.case(
                    (_calls.sms_status == "queued", SMS_CANCELED), else_=_calls.sms_status
                ),
                sms_updated_at=sa.case(
                    (_calls.sms_status == "queued", now), else_=_calls.sms_updated_at
                ),
            )
            .returning(*password_calls.c)
        )
    ).first()
    if row is not None:
        return Cancellation(record=record_from_row(row), changed=True)
    row = (await connection.execute(password_calls.select().where(call))).first()
    return None if row is None else Cancellation(record=record_from_row(row), changed=False)


async def end_calls_without_cdr(
    connection: AsyncConnection,
    *,
    now: dt.datetime,
    placed_before: dt.datetime,
    wants_sms: bool,
    limit: int = 100,
) -> list[CompletedCall]:
    """End calls initiated before ``placed_before`` that still have no CDR, with outcome
    ``no_cdr``, queueing the SMS fallback if ``wants_sms``; the calls this sweep ended.

    The waiting condition is repeated on the update itself: on PostgreSQL a row another
    sweep (or a CDR) changed meanwhile is re-checked against it and skipped, and rows another
    sweep is ending right now are skipped outright (SKIP LOCKED); SQLite's single writer
    serializes sweeps.
    """
    waiting = sa.and_(
        _calls.outcome.is_(None),
        _calls.initiated_at.is_not(None),
        _calls.initiated_at < placed_before,
        NOT_CANCELED,
    )
    candidates = (
        sa.select(_calls.verification_call_uuid)
        .where(waiting)
        .order_by(_calls.initiated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    # The same guard as verification.queue_sms, and only while the code may still be used.
    queue = sa.and_(
        sa.true() if wants_sms else sa.false(),
        _calls.sms_status.is_(None),
        _calls.code_encrypted.is_not(None),
        _calls.phone_number.is_not(None),
        _calls.verification_status == "pending",
    )
    rows = await connection.execute(
        password_calls.update()
        .where(_calls.verification_call_uuid.in_(candidates.scalar_subquery()), waiting)
        .values(
            outcome=CallOutcome.NO_CDR.value,
            completed_at=now,
            updated_at=now,
            sms_status=sa.case((queue, "queued"), else_=_calls.sms_status),
            sms_updated_at=sa.case((queue, now), else_=_calls.sms_updated_at),
        )
        .returning(*password_calls.c)
    )
    ended = [record_from_row(row) for row in rows]
    # With no outcome before, the call had no SMS: a queued one was queued here.
    return [
        CompletedCall(record=record, sms_queued=record.sms_status == "queued") for record in ended
    ]

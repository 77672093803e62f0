"""Code checks and SMS fallback state of password calls: conditional writes only."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from confirmhub.db.store import PasswordCallRecord, record_from_row
from confirmhub.db.tables import password_calls
from schemas import limits

VerificationStatus = Literal["pending", "approved", "max_attempts_reached", "expired", "canceled"]
SmsOutcome = Literal["sent", "failed"]
# The SMS status of a call canceled before its SMS went out: it never will.
SMS_CANCELED = "canceled"

_calls = password_calls.c
# What a counted right code may still approve: open, or closed by concurrent checks.
_OPEN_TO_A_COUNTED_CHECK = ("pending", "max_attempts_reached", "expired")
# A canceled verification sends nothing more: every write that would queue or claim an SMS
# (or start a provider request, confirmhub/db/sms_attempts.py) carries this guard.
NOT_CANCELED = password_calls.c.verification_status != "canceled"
# A queued SMS is normally sent at once by whoever queued it; the sweep waits this long first.
SMS_QUEUE_GRACE = dt.timedelta(seconds=2)


def _by_uuid(verification_call_uuid: str) -> sa.ColumnElement[bool]:
    return _calls.verification_call_uuid == verification_call_uuid


async def _select(connection: AsyncConnection, verification_call_uuid: str) -> PasswordCallRecord:
    row = (
        await connection.execute(password_calls.select().where(_by_uuid(verification_call_uuid)))
    ).one()
    return record_from_row(row)


async def count_check_attempt(
    connection: AsyncConnection, verification_call_uuid: str, *, max_attempts: int, now: dt.datetime
) -> tuple[PasswordCallRecord, bool]:
    """Spend one attempt if the code may still be checked; (the call, whether it was spent)."""
    await connection.execute(
        password_calls.update()
        .where(
            _by_uuid(verification_call_uuid),
            _calls.verification_status == "pending",
            _calls.code_expires_at < now,
        )
        .values(verification_status="expired", updated_at=now)
    )
    row = (
        await connection.execute(
            password_calls.update()
            .where(
                _by_uuid(verification_call_uuid),
                _calls.verification_status == "pending",
                _calls.code_hash.is_not(None),
                _calls.check_attempts < max_attempts,
            )
            .values(check_attempts=_calls.check_attempts + 1, updated_at=now)
            .returning(*password_calls.c)
        )
    ).first()
    if row is not None:
        return record_from_row(row), True
    return await _select(connection, verification_call_uuid), False


async def settle_check(
    connection: AsyncConnection,
    verification_call_uuid: str,
    *,
    valid: bool,
    max_attempts: int,
    now: dt.datetime,
) -> PasswordCallRecord | None:
    """Approve on a right code, or close after the last wrong one; the approved call if this
    check approved it, else None.

    A right code (checked only for an attempt ``count_check_attempt`` spent) approves even a
    call that checks running beside it have closed meanwhile: its attempt was counted within
    the limit and before expiry, so the guesses that closed the call came from the same
    budget, and refusing it would answer a right code with a closed status.
    """
    if valid:
        row = (
            await connection.execute(
                password_calls.update()
                .where(
                    _by_uuid(verification_call_uuid),
                    _calls.verification_status.in_(_OPEN_TO_A_COUNTED_CHECK),
                )
                .values(verification_status="approved", approved_at=now, updated_at=now)
                .returning(*password_calls.c)
            )
        ).first()
        return None if row is None else record_from_row(row)
    await connection.execute(
        password_calls.update()
        .where(
            _by_uuid(verification_call_uuid),
            _calls.verification_status == "pending",
            _calls.check_attempts >= max_attempts,
        )
        .values(verification_status="max_attempts_reached", updated_at=now)
    )
    return None


async def queue_sms(
    connection: AsyncConnection, verification_call_uuid: str, *, now: dt.datetime
) -> bool:
    """Mark the call's SMS fallback as due, once: True if this call queued it."""
    result = await connection.execute(
        password_calls.update()
        .where(
            _by_uuid(verification_call_uuid),
            _calls.sms_status.is_(None),
            _calls.code_encrypted.is_not(None),
            _calls.phone_number.is_not(None),
            NOT_CANCELED,
        )
        .values(sms_status="queued", sms_updated_at=now)
    )
    return bool(result.rowcount)


async def claim_sms(
    connection: AsyncConnection,
    verification_call_uuid: str,
    *,
    now: dt.datetime,
    lease: dt.timedelta,
) -> PasswordCallRecord | None:
    """Take the SMS for sending, or take over one whose lease ran out; None if another has it.

    Each claim bumps ``sms_claim``: the returned record's value is the claim's fencing token.
    """
    row = (
        await connection.execute(
            password_calls.update()
            .where(
                _by_uuid(verification_call_uuid),
                NOT_CANCELED,
                sa.or_(
                    _calls.sms_status == "queued",
                    sa.and_(_calls.sms_status == "sending", _calls.sms_updated_at < now - lease),
                ),
            )
            .values(sms_status="sending", sms_updated_at=now, sms_claim=_calls.sms_claim + 1)
            .returning(*password_calls.c)
        )
    ).first()
    return None if row is None else record_from_row(row)


async def finish_sms(
    connection: AsyncConnection,
    verification_call_uuid: str,
    *,
    claim: int,
    outcome: SmsOutcome,
    provider: str | None,
    provider_message_id: str | None,
    error: str | None,
    now: dt.datetime,
) -> PasswordCallRecord | None:
    """Record how the SMS ended, under ``claim``; None if the SMS is no longer ours."""
    row = (
        await connection.execute(
            password_calls.update()
            .where(
                _by_uuid(verification_call_uuid),
                _calls.sms_status == "sending",
                _calls.sms_claim == claim,
            )
            .values(
                sms_status=outcome,
                sms_provider=provider,
                sms_message_id=provider_message_id,
                sms_error=None if error is None else error[: limits.SMS_ERROR],
                sms_updated_at=now,
                updated_at=now,
            )
            .returning(*password_calls.c)
        )
    ).first()
    return None if row is None else record_from_row(row)


async def drop_canceled_sms(
    connection: AsyncConnection, verification_call_uuid: str, *, claim: int, now: dt.datetime
) -> bool:
    """End, under ``claim``, an SMS whose verification was canceled while it was being sent
    (its requests made so far stay recorded); True if it was."""
    result = await connection.execute(
        password_calls.update()
        .where(
            _by_uuid(verification_call_uuid),
            _calls.sms_status == "sending",
            _calls.sms_claim == claim,
            _calls.verification_status == "canceled",
        )
        .values(sms_status=SMS_CANCELED, sms_updated_at=now, updated_at=now)
    )
    return bool(result.rowcount)


async def due_sms(
    connection: AsyncConnection, *, now: dt.datetime, lease: dt.timedelta, limit: int = 100
) -> list[str]:
    """Calls whose SMS nobody is sending: queued a while ago, or claimed by a worker whose
    lease ran out; those waiting longest first."""
    rows = await connection.execute(
        sa.select(_calls.verification_call_uuid)
        .where(
            NOT_CANCELED,
            sa.or_(
                sa.and_(
                    _calls.sms_status == "queued", _calls.sms_updated_at < now - SMS_QUEUE_GRACE
                ),
                sa.and_(_calls.sms_status == "sending", _calls.sms_updated_at < now - lease),
            ),
        )
        .order_by(_calls.sms_updated_at)
        .limit(limit)
    )
    return [str(uuid) for (uuid,) in rows]

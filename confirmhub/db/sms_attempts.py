"""SMS attempts: each provider request recorded before it goes out, then how it ended.

An attempt is written, under the SMS's claim, before its request leaves; its outcome after.
So a request whose outcome never got recorded (the worker died, the write failed, the worker
outlived its lease) is still known, and whoever claims the SMS next marks it
``unconfirmed`` instead of sending again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from confirmhub.db.tables import password_calls, sms_attempts
from confirmhub.db.verification import NOT_CANCELED
from schemas import limits

AttemptState = Literal["sending", "accepted", "failed", "refused", "unconfirmed"]
# States after which no provider is tried again for the call.
FINAL_STATES: frozenset[str] = frozenset({"accepted", "refused", "unconfirmed"})
INTERRUPTED = "no outcome recorded (interrupted); the SMS may have been sent"
_MAX_ERROR = limits.SMS_ERROR

_calls = password_calls.c
_attempts = sms_attempts.c


@dataclass(frozen=True, slots=True)
class SmsAttempt:
    """One request to one provider for one call's SMS."""

    attempt_id: str
    verification_call_uuid: str
    attempt_no: int
    claim: int
    provider_id: int
    provider_name: str
    provider_type: str
    state: str
    provider_message_id: str | None
    error: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    send_round: int = 1
    delivery: str | None = None
    delivery_status: str | None = None
    delivery_error_code: str | None = None
    delivery_updated_at: dt.datetime | None = None


def attempt_from_row(row: sa.Row[Any]) -> SmsAttempt:
    """An SmsAttempt from a full ``sms_attempts`` row."""
    return SmsAttempt(**row._mapping)


async def start_attempt(
    connection: AsyncConnection,
    verification_call_uuid: str,
    *,
    claim: int,
    attempt_no: int,
    send_round: int = 1,
    provider_id: int,
    provider_name: str,
    provider_type: str,
    now: dt.datetime,
) -> SmsAttempt | None:
    """Record a request about to go out and renew the SMS's lease, both only under ``claim``;
    None if the SMS is no longer ours (its lease ran out and another worker took it) or the
    verification was canceled."""
    renewed = await connection.execute(
        password_calls.update()
        .where(
            _calls.verification_call_uuid == verification_call_uuid,
            _calls.sms_status == "sending",
            _calls.sms_claim == claim,
            # A verification canceled while its SMS is being sent: no further request.
            NOT_CANCELED,
        )
        .values(sms_updated_at=now)
    )
    if not renewed.rowcount:
        return None
    attempt = SmsAttempt(
        attempt_id=str(uuid.uuid4()),
        verification_call_uuid=verification_call_uuid,
        attempt_no=attempt_no,
        claim=claim,
        provider_id=provider_id,
        provider_name=provider_name,
        provider_type=provider_type,
        state="sending",
        provider_message_id=None,
        error=None,
        started_at=now,
        finished_at=None,
        send_round=send_round,
    )
    await connection.execute(sms_attempts.insert().values(dataclasses.asdict(attempt)))
    return attempt


async def settle_attempt(
    connection: AsyncConnection,
    attempt: SmsAttempt,
    *,
    state: AttemptState,
    provider_message_id: str | None,
    error: str | None,
    now: dt.datetime,
) -> SmsAttempt:
    """Record how the attempt's request ended.

    Not fenced by the claim: what the provider answered is true whoever holds the SMS now,
    and a late answer replaces the ``unconfirmed`` a later claim presumed.
    """
    settled = dataclasses.replace(
        attempt,
        state=state,
        provider_message_id=provider_message_id,
        error=None if error is None else error[:_MAX_ERROR],
        finished_at=now,
    )
    await connection.execute(
        sms_attempts.update()
        .where(
            _attempts.attempt_id == attempt.attempt_id,
            _attempts.state.in_(("sending", "unconfirmed")),
        )
        .values(
            state=settled.state,
            provider_message_id=settled.provider_message_id,
            error=settled.error,
            finished_at=now,
        )
    )
    return settled


async def call_attempts(
    connection: AsyncConnection, verification_call_uuid: str
) -> list[SmsAttempt]:
    """A call's SMS attempts in the order they were made."""
    rows = await connection.execute(
        sms_attempts.select()
        .where(_attempts.verification_call_uuid == verification_call_uuid)
        .order_by(_attempts.attempt_no)
    )
    return [attempt_from_row(row) for row in rows]


async def interrupt_attempts(
    connection: AsyncConnection, verification_call_uuid: str, *, now: dt.datetime
) -> list[str]:
    """Mark the call's attempts still ``sending`` as ``unconfirmed``; the ids it marked.

    Call it in the transaction of a new claim: an attempt still ``sending`` then belongs to a
    claim that ended (its worker died or outlived its lease), and its request may have been
    taken.
    """
    rows = await connection.execute(
        sms_attempts.update()
        .where(
            _attempts.verification_call_uuid == verification_call_uuid,
            _attempts.state == "sending",
        )
        .values(state="unconfirmed", error=INTERRUPTED, finished_at=now)
        .returning(_attempts.attempt_id)
    )
    return [str(attempt_id) for (attempt_id,) in rows]

"""Requests to place a password call, recorded before MCN is called so a call is paid once.

A request is ``placing`` while MCN is asked, then ``placed`` (MCN placed the call, named by
``verification_call_uuid``), ``failed`` (MCN refused: no call) or ``in_doubt`` (MCN's answer
was lost: a call may exist). While ``placing`` or ``in_doubt`` it *holds* its number: another
request for the number is refused rather than paying for a second call. A request stays
``placing`` when whatever should settle it failed (the database, the process); either way its
hold ends once ``hold`` has passed since it began — by then any call it placed is over — and
it becomes ``lapsed``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from confirmhub.db.engine import insert_for
from confirmhub.db.tables import (
    HOLDING_STATES,
    HOLDS_NUMBER,
    password_call_requests,
    password_calls,
)

SettledState = Literal["placed", "failed", "in_doubt"]

_requests = password_call_requests.c


@dataclass(frozen=True, slots=True)
class CallRequestRecord:
    """A stored request to place a password call."""

    id: str
    key_id: str
    idempotency_key: str | None
    phone_number: str
    state: str
    verification_call_uuid: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


def _record(row: sa.Row[Any]) -> CallRequestRecord:
    return CallRequestRecord(**row._mapping)


def number_key(phone_number: str) -> str:
    """The number as requests hold it: its digits, without the ``+``."""
    return phone_number.removeprefix("+")


async def claim_number(
    connection: AsyncConnection,
    *,
    request_id: str,
    key_id: str,
    phone_number: str,
    hold: dt.timedelta,
    now: dt.datetime,
) -> CallRequestRecord:
    """Record a request holding ``phone_number`` and return it; if an earlier request still
    holds the number, return that one instead (and record nothing)."""
    number = number_key(phone_number)
    await connection.execute(
        password_call_requests.update()
        .where(
            _requests.phone_number == number,
            _requests.state.in_(HOLDING_STATES),
            _requests.created_at <= now - hold,
        )
        .values(state="lapsed", updated_at=now)
    )
    claim = (
        insert_for(connection, password_call_requests)
        .values(
            id=request_id,
            key_id=key_id,
            phone_number=number,
            state="placing",
            created_at=now,
            updated_at=now,
        )
        # The partial unique index makes the claim atomic across receivers: of two requests
        # for a free number, the second waits for the first to commit, then finds it here.
        .on_conflict_do_nothing(index_elements=["phone_number"], index_where=HOLDS_NUMBER)
        .returning(*password_call_requests.c)
    )
    holder_query = password_call_requests.select().where(
        _requests.phone_number == number, _requests.state.in_(HOLDING_STATES)
    )
    while True:
        row = (await connection.execute(claim)).first()
        if row is None:
            # Read committed: the holder may have settled since the insert saw it; then the
            # number is free and the claim is tried again.
            row = (await connection.execute(holder_query)).first()
        if row is not None:
            return _record(row)


async def settle_request(
    connection: AsyncConnection,
    request_id: str,
    *,
    state: SettledState,
    now: dt.datetime,
    verification_call_uuid: str | None = None,
) -> None:
    """Record how a request ended; ``placed`` names the call MCN placed."""
    where = [_requests.id == request_id]
    if state != "placed":
        # Only a request still holding its number may go on holding it (``in_doubt``): one
        # that has lapsed must not take the number back from a newer request.
        where.append(_requests.state == "placing")
    await connection.execute(
        password_call_requests.update()
        .where(*where)
        .values(state=state, verification_call_uuid=verification_call_uuid, updated_at=now)
    )


async def live_call(
    connection: AsyncConnection, phone_number: str, *, since: dt.datetime
) -> str | None:
    """The call to ``phone_number`` initiated since ``since`` that still awaits its CDR; a
    canceled verification no longer counts (its client has given it up)."""
    number = number_key(phone_number)
    calls = password_calls.c
    query = (
        sa.select(calls.verification_call_uuid)
        .where(
            calls.phone_number.in_([number, f"+{number}"]),
            calls.outcome.is_(None),
            calls.verification_status != "canceled",
            calls.initiated_at > since,
        )
        .order_by(calls.initiated_at.desc())
        .limit(1)
    )
    return (await connection.execute(query)).scalar_one_or_none()

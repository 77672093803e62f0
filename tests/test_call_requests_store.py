"""Requests to place a call: who holds a number, and when the hold ends."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.db import call_requests as db
from confirmhub.db.tables import password_call_requests

NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
HOLD = dt.timedelta(seconds=180)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


async def claim(
    engine: AsyncEngine, request_id: str, *, number: str = "+421222202004", at: dt.datetime = NOW
) -> db.CallRequestRecord:
    """Claim ``number`` for a new request; the request holding it afterwards."""
    async with engine.begin() as connection:
        return await db.claim_number(
            connection,
            request_id=request_id,
            key_id="admin-token",
            phone_number=number,
            hold=HOLD,
            now=at,
        )


async def settle(engine: AsyncEngine, request_id: str, state: db.SettledState) -> None:
    """Record how a request ended."""
    async with engine.begin() as connection:
        await db.settle_request(
            connection,
            request_id,
            state=state,
            now=NOW,
            verification_call_uuid="da59bda0a1bb_117793" if state == "placed" else None,
        )


async def state_of(engine: AsyncEngine, request_id: str) -> tuple[str, str | None]:
    """A request's state and call."""
    columns = password_call_requests.c
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                sa.select(columns.state, columns.verification_call_uuid).where(
                    columns.id == request_id
                )
            )
        ).one()
    return row.state, row.verification_call_uuid


async def test_a_number_is_held_until_its_request_is_settled(engine: AsyncEngine) -> None:
    first = await claim(engine, "a")
    assert (first.id, first.state, first.phone_number) == ("a", "placing", "421222202004")
    assert (await claim(engine, "b", number="421222202004")).id == "a"
    assert (await claim(engine, "c", number="+421222202005")).id == "c"
    await settle(engine, "a", "in_doubt")
    assert (await claim(engine, "d")).id == "a", "an answer lost keeps the number held"


@pytest.mark.parametrize("state", ["placed", "failed"])
async def test_settled_request_frees_its_number(
    engine: AsyncEngine, state: db.SettledState
) -> None:
    await claim(engine, "a")
    await settle(engine, "a", state)
    assert (await claim(engine, "b")).id == "b"


async def test_hold_lapses_and_a_lapsed_request_cannot_take_the_number_back(
    engine: AsyncEngine,
) -> None:
    await claim(engine, "a")
    assert (await claim(engine, "b", at=NOW + HOLD - dt.timedelta(seconds=1))).id == "a"
    assert (await claim(engine, "c", at=NOW + HOLD)).id == "c"
    # The first request's answer, arriving this late, leaves the newer hold alone...
    await settle(engine, "a", "in_doubt")
    assert await state_of(engine, "a") == ("lapsed", None)
    assert (await claim(engine, "d", at=NOW + HOLD)).id == "c"
    # ...and a call it placed is still recorded as placed.
    await settle(engine, "a", "placed")
    assert await state_of(engine, "a") == ("placed", "da59bda0a1bb_117793")
    await settle(engine, "c", "failed")
    assert (await claim(engine, "e", at=NOW + HOLD)).id == "e"

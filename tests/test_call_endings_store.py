"""Cancels and CDR timeouts in the store: each ends a call once, and a canceled call's SMS is
never queued, claimed or started."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.db import call_endings, sms_attempts, verification
from confirmhub.db.store import CompletedCall, PasswordCallRecord, Store

NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=120)
TIMEOUT = dt.timedelta(seconds=180)
CALL = "da59bda0a1bb_117793"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


async def initiate(engine: AsyncEngine, call: str = CALL, *, at: dt.datetime = NOW) -> None:
    """Store a call placed at ``at``, with a code for its SMS fallback."""
    call_id, account_id = call.rsplit("_", 1)
    async with Store(engine).transaction() as tx:
        await tx.record_initiated_call(
            verification_call_uuid=call,
            call_id=call_id,
            account_id=account_id,
            phone_number="421222202004",
            code_hash="not-checked-here",
            code_encrypted=b"encrypted",
            code_expires_at=at + dt.timedelta(minutes=10),
            locale=None,
            now=at,
        )


async def cancel(engine: AsyncEngine, at: dt.datetime = NOW) -> call_endings.Cancellation | None:
    """Cancel ``CALL``."""
    async with engine.begin() as connection:
        return await call_endings.cancel_call(connection, CALL, now=at)


async def queue_and_claim(engine: AsyncEngine, at: dt.datetime) -> PasswordCallRecord | None:
    """Queue ``CALL``'s SMS, then claim it for sending."""
    async with engine.begin() as connection:
        await verification.queue_sms(connection, CALL, now=at)
        return await verification.claim_sms(connection, CALL, now=at, lease=LEASE)


async def sweep(
    engine: AsyncEngine, at: dt.datetime, *, wants_sms: bool = True
) -> list[CompletedCall]:
    """One CDR-timeout sweep at ``at``."""
    async with engine.begin() as connection:
        return await call_endings.end_calls_without_cdr(
            connection, now=at, placed_before=at - TIMEOUT, wants_sms=wants_sms
        )


async def test_a_cancel_changes_a_call_once(engine: AsyncEngine) -> None:
    assert await cancel(engine) is None
    await initiate(engine)
    first = await cancel(engine)
    assert first is not None
    assert first.changed
    assert first.record.verification_status == "canceled"
    second = await cancel(engine, NOW + dt.timedelta(seconds=1))
    assert second is not None
    assert not second.changed
    assert second.record.updated_at == NOW


async def test_an_approved_call_stays_approved(engine: AsyncEngine) -> None:
    await initiate(engine)
    async with engine.begin() as connection:
        await verification.count_check_attempt(connection, CALL, max_attempts=5, now=NOW)
        await verification.settle_check(connection, CALL, valid=True, max_attempts=5, now=NOW)
    canceled = await cancel(engine)
    assert canceled is not None
    assert not canceled.changed
    assert canceled.record.verification_status == "approved"


async def test_a_canceled_call_queues_and_claims_no_sms(engine: AsyncEngine) -> None:
    await initiate(engine)
    await cancel(engine)
    assert await queue_and_claim(engine, NOW) is None
    async with engine.connect() as connection:
        assert await verification.due_sms(connection, now=NOW + LEASE * 2, lease=LEASE) == []


async def test_a_cancel_drops_a_queued_sms(engine: AsyncEngine) -> None:
    await initiate(engine)
    async with engine.begin() as connection:
        assert await verification.queue_sms(connection, CALL, now=NOW)
    canceled = await cancel(engine)
    assert canceled is not None
    assert canceled.record.sms_status == "canceled"
    later = NOW + dt.timedelta(minutes=5)
    async with engine.begin() as connection:
        assert await verification.claim_sms(connection, CALL, now=later, lease=LEASE) is None
        assert await verification.due_sms(connection, now=later, lease=LEASE) == []


async def test_a_cancel_stops_an_sms_being_sent_before_its_next_request(
    engine: AsyncEngine,
) -> None:
    await initiate(engine)
    claimed = await queue_and_claim(engine, NOW)
    assert claimed is not None
    await cancel(engine)
    async with engine.begin() as connection:
        attempt = await sms_attempts.start_attempt(
            connection,
            CALL,
            claim=claimed.sms_claim,
            attempt_no=1,
            provider_id=1,
            provider_name="twilio",
            provider_type="Twilio",
            now=NOW,
        )
        assert attempt is None
        assert await sms_attempts.call_attempts(connection, CALL) == []
        # Nobody takes it over once the lease has run out either.
        later = NOW + LEASE * 2
        assert await verification.claim_sms(connection, CALL, now=later, lease=LEASE) is None


async def test_the_timeout_ends_waiting_calls_once(engine: AsyncEngine) -> None:
    await initiate(engine, "00000000000a_1", at=NOW)
    await initiate(engine, "00000000000b_1", at=NOW + dt.timedelta(seconds=100))
    assert await sweep(engine, NOW + TIMEOUT) == []
    ended = await sweep(engine, NOW + TIMEOUT + dt.timedelta(seconds=1))
    assert [call.record.verification_call_uuid for call in ended] == ["00000000000a_1"]
    assert ended[0].record.outcome == "no_cdr"
    assert ended[0].sms_queued
    assert ended[0].record.sms_status == "queued"
    assert await sweep(engine, NOW + TIMEOUT + dt.timedelta(seconds=2)) == []


async def test_the_timeout_skips_canceled_calls_and_queues_sms_only_if_asked(
    engine: AsyncEngine,
) -> None:
    await initiate(engine)
    await cancel(engine)
    await initiate(engine, "00000000000b_1")
    [ended] = await sweep(engine, NOW + TIMEOUT * 2, wants_sms=False)
    assert ended.record.verification_call_uuid == "00000000000b_1"
    assert not ended.sms_queued
    assert ended.record.sms_status is None


async def test_concurrent_sweeps_end_each_call_once(engine: AsyncEngine) -> None:
    calls = [f"{n:012x}_1" for n in range(40)]
    for call in calls:
        await initiate(engine, call)
    results = await asyncio.gather(*(sweep(engine, NOW + TIMEOUT * 2) for _ in range(4)))
    ended = [call.record.verification_call_uuid for result in results for call in result]
    assert sorted(ended) == sorted(calls)

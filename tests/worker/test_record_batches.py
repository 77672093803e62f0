"""Recording CDRs in batches: every call once, whatever the batch's size or repeats."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.db.store import Store
from schemas.inbound import InboundCdr
from schemas.mcn import PasswordCallCdr
from worker.password_calls import record_cdrs


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


@pytest.fixture
def store(engine: AsyncEngine) -> Store:
    return Store(engine)


def cdr(index: int) -> InboundCdr:
    return InboundCdr(
        request_id="req-1",
        received_at=dt.datetime.now(dt.UTC),
        cdr=PasswordCallCdr(verification_call_uuid=f"batch{index:05d}_1", q931_status=17),
    )


async def test_a_batch_beyond_one_statements_parameters_is_recorded_whole(store: Store) -> None:
    # 2,500 calls: more keys than one SELECT takes, each once, plus repeats in the same batch.
    messages = [cdr(index) for index in range(2500)] + [cdr(index) for index in range(10)]
    now = dt.datetime.now(dt.UTC)
    results = await record_cdrs(messages, store, now=now)
    assert [result.event is not None for result in results] == [True] * 2500 + [False] * 10
    assert len({result.event.event_id for result in results if result.event}) == 2500

    again = await record_cdrs(messages[:100], store, now=now)
    assert all(result.event is None for result in again), "a replayed batch changes nothing"
    stored = await store.get_password_call("batch02499_1")
    assert stored is not None
    assert stored.outcome == "busy"

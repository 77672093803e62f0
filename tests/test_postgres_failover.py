"""No CDR lost when PostgreSQL fails over: a worker on a primary + standby pair.

A worker process, configured with the pair's multi-host URL (``target_session_attrs=primary``),
drains a backlog of 2,000 CDRs queued as a receiver queues them. Part-way through, the
primary is stopped and the standby promoted (tests/postgres_pair.py). What an operator and a
downstream consumer observe is asserted: every CDR stored with its outcome and exactly one
event, nothing dead-lettered, the worker never restarted. Run with ``-rP`` for the figures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import orjson
import pytest
import sqlalchemy as sa
from aio_pika.abc import AbstractChannel, AbstractRobustConnection, ExchangeType
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.broker import DEAD_LETTER_QUEUE
from confirmhub.db.engine import create_engine, is_unavailable
from confirmhub.db.tables import outbox, password_calls
from confirmhub.settings import Settings
from schemas.events import CallOutcome
from schemas.inbound import INBOUND_EXCHANGE, MCN_CDR_ROUTING_KEY
from tests import faults
from tests.conftest import RETRY_DELAYS, SECRETS_KEY
from tests.helpers import EventTap, eventually, take_all
from tests.postgres_pair import PostgresPair

# Timed against the wall clock and breaking servers: run alone, not beside other tests
# (make test runs these after the parallel part).
pytestmark = pytest.mark.serial

BACKLOG = 2000
# The failover starts once this many CDRs are stored: well into the backlog, far from its end.
FAIL_OVER_AFTER = 300


def queued_cdr(call: str) -> bytes:
    """A CDR as the receiver queues it."""
    return orjson.dumps(
        {
            "schema_version": 1,
            "request_id": f"req-{call}",
            "received_at": dt.datetime.now(dt.UTC).isoformat(),
            "cdr": {"verification_call_uuid": call, "q931_status": 17, "final_status": "CANCEL"},
        }
    )


async def queue_backlog(amqp: AbstractRobustConnection, calls: list[str]) -> None:
    """Publish one message per CDR, each confirmed, as a backlog for the worker."""
    async with amqp.channel() as channel:
        exchange = await channel.declare_exchange(
            INBOUND_EXCHANGE, ExchangeType.TOPIC, durable=True
        )
        for start in range(0, len(calls), 200):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(queued_cdr(call), message_id=f"m-{call}"),
                        MCN_CDR_ROUTING_KEY,
                    )
                    for call in calls[start : start + 200]
                )
            )


async def stored(engine: AsyncEngine) -> int:
    """How many calls have their outcome stored; 0 while the database cannot answer."""
    try:
        async with engine.connect() as connection:
            query = sa.select(sa.func.count()).where(password_calls.c.outcome.is_not(None))
            return int((await connection.execute(query)).scalar_one())
    except Exception as exc:
        if is_unavailable(exc):
            return 0
        raise


async def events_by_call(tap: EventTap, calls: set[str]) -> dict[str, set[str]]:
    """Read events until every call has one, and a little longer; each call's event ids."""
    seen: dict[str, set[str]] = defaultdict(set)

    async def take() -> bool:
        while (message := await tap.queue.get(no_ack=True, fail=False)) is not None:
            assert message.message_id is not None
            seen[orjson.loads(message.body)["data"]["verification_call_uuid"]].add(
                message.message_id
            )
        return calls <= seen.keys()

    await eventually(take, timeout=60, interval=0.1)
    await asyncio.sleep(1.5)  # an event published twice arrives by now
    await take()
    return seen


@pytest.fixture
def worker_settings(postgres_pair: PostgresPair, amqp_url: str) -> Settings:
    """A worker on the pair's multi-host URL, allowed one attempt per message: any failure
    of the failover counted against a message would dead-letter it."""
    return Settings(
        amqp_url=SecretStr(amqp_url),
        database_url=SecretStr(postgres_pair.url),
        secrets_key=SecretStr(SECRETS_KEY),
        outbox_relay_interval=0.5,
        worker_retry_delays=RETRY_DELAYS,
        worker_max_attempts=1,
        publish_confirm_timeout=3.0,
    )


@pytest.fixture
def worker_log(tmp_path: Path) -> Path:
    """The worker process's log file."""
    return tmp_path / "worker.log"


@pytest.fixture
async def pair_engine(postgres_pair: PostgresPair) -> AsyncIterator[AsyncEngine]:
    """The test's own engine on the multi-host URL: it follows the failover too."""
    engine = create_engine(postgres_pair.url, pool_size=1)
    yield engine
    await engine.dispose()


async def test_a_standby_is_skipped_and_a_write_to_it_drops_the_pool(
    postgres_pair: PostgresPair,
) -> None:
    # The standby first in the list: target_session_attrs=primary still finds the primary.
    reversed_url = postgres_pair.url.replace(
        f"host=127.0.0.1:{postgres_pair.port}&host=127.0.0.1:{postgres_pair.port + 1}",
        f"host=127.0.0.1:{postgres_pair.port + 1}&host=127.0.0.1:{postgres_pair.port}",
    )
    assert reversed_url != postgres_pair.url
    engine = create_engine(reversed_url)
    standby = create_engine(postgres_pair.server_url(1))
    try:
        async with engine.connect() as connection:
            in_recovery = await connection.exec_driver_sql("SELECT pg_is_in_recovery()")
            assert in_recovery.scalar_one() is False
        # A server that is not (or no longer) primary refuses writes: read_only_sql_transaction.
        with pytest.raises(sa.exc.DBAPIError) as refused:
            async with standby.begin() as connection:
                await connection.execute(outbox.delete())
        assert is_unavailable(refused.value)
        assert refused.value.connection_invalidated  # the pool is dropped, not reused
    finally:
        await engine.dispose()
        await standby.dispose()


async def test_the_standby_promoted_while_the_worker_drains_a_backlog(
    postgres_pair: PostgresPair,
    amqp: AbstractRobustConnection,
    channel: AbstractChannel,
    events: EventTap,
    worker_settings: Settings,
    worker_log: Path,
    pair_engine: AsyncEngine,
) -> None:
    calls = [f"{uuid.uuid4().hex[:12]}_117793" for _ in range(BACKLOG)]
    await queue_backlog(amqp, calls)
    worker = faults.spawn(worker_settings, "worker", log_path=worker_log)
    try:
        await eventually(lambda: "worker.started" in worker_log.read_text(), timeout=60)
        await eventually(lambda: _at_least(pair_engine), timeout=30, interval=0.01)
        before = await stored(pair_engine)
        failover_started = dt.datetime.now(dt.UTC)
        started = time.monotonic()
        await asyncio.to_thread(postgres_pair.promote)
        failover_s = time.monotonic() - started

        async def all_stored() -> bool:
            return await stored(pair_engine) >= BACKLOG

        await eventually(all_stored, timeout=45, interval=0.1)
        drained_s = time.monotonic() - started
        events_seen = await events_by_call(events, set(calls))
        assert worker.poll() is None, "the worker exited during the failover"
    finally:
        exit_code = faults.stop(worker)
    log = await asyncio.to_thread(worker_log.read_text)
    assert exit_code == 0, log[-3000:]
    lines = [orjson.loads(line) for line in log.splitlines() if line.startswith("{")]

    async with pair_engine.connect() as connection:
        rows = (
            await connection.execute(
                sa.select(password_calls.c.verification_call_uuid, password_calls.c.outcome)
            )
        ).all()
        completed = sorted(
            (
                await connection.execute(
                    sa.select(password_calls.c.completed_at).where(
                        password_calls.c.completed_at.is_not(None)
                    )
                )
            ).scalars()
        )
        outbox_ids = set((await connection.execute(sa.select(outbox.c.event_id))).scalars())
    assert {call for call, outcome in rows if outcome == CallOutcome.BUSY} == set(calls), rows[:3]
    assert [call for call in calls if len(events_seen[call]) != 1] == []
    assert {event for ids in events_seen.values() for event in ids} == outbox_ids
    assert await take_all(channel, DEAD_LETTER_QUEUE) == []
    assert before < BACKLOG - 200, "the backlog was nearly drained before the failover"

    gaps = [later - earlier for earlier, later in itertools.pairwise(completed)]
    after = [moment for moment in completed if moment >= failover_started]
    figures = {
        "backlog": BACKLOG,
        "stored_before_failover": before,
        "failover_script_s": round(failover_s, 2),
        "longest_pause_in_storing_s": round(max(gaps).total_seconds(), 2),
        "backlog_drained_after_failover_s": round(drained_s, 1),
        "attempts_failed": sum(line.get("event") == "message.attempt_failed" for line in lines),
        "retries_scheduled": sum(line.get("result") == "retry_scheduled" for line in lines),
    }
    print(f"postgres failover figures: {json.dumps(figures)}")
    assert after, "nothing was stored after the failover"


async def _at_least(engine: AsyncEngine) -> bool:
    return await stored(engine) >= FAIL_OVER_AFTER

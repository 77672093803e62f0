"""Nothing lost, nothing applied twice: crashes and outages on the real RabbitMQ and PostgreSQL.

Each test breaks something for real — kills a worker with SIGKILL, stops PostgreSQL (a
private server: tests/postgres_pair.py), stops RabbitMQ (a private node: tests/cluster.py) —
and checks what a downstream consumer would see: one event per transition.
"""

from __future__ import annotations

import asyncio
import collections
import json
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aio_pika.abc import AbstractChannel, AbstractQueue, ExchangeType
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from confirmhub.broker import DEAD_LETTER_QUEUE
from confirmhub.broker_connection import BrokerConnection, broker_nodes
from confirmhub.db.engine import create_engine
from confirmhub.settings import Settings
from schemas.events import EVENTS_EXCHANGE
from tests import faults
from tests.cluster import RabbitCluster
from tests.conftest import WEBHOOK_SECRET
from tests.helpers import EventTap, eventually, take_all
from tests.postgres_pair import PostgresPair, running_pair
from worker.app import running_worker

# Timed against the wall clock and breaking servers: run alone, not beside other tests
# (make test runs these after the parallel part).
pytestmark = pytest.mark.serial

AUTH = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
RESTART_TAP = "test-restart-tap"


@pytest.fixture
def backend() -> str:
    """These scenarios run on PostgreSQL, the scale-out store."""
    return "postgresql"


def cdr(index: int, tag: str = "f") -> dict[str, Any]:
    return {
        "verification_call_uuid": f"{tag}{index:011x}_117793",
        "q931_status": 17,
        "final_status": "CANCEL",
    }


@pytest.fixture
async def durable_tap(channel: AbstractChannel) -> AsyncIterator[AbstractQueue]:
    """A consumer's durable queue on the events exchange: it outlives a broker restart."""
    exchange = await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(f"test-tap-{uuid.uuid4().hex[:8]}", durable=True)
    await queue.bind(exchange, "#")
    yield queue
    await queue.delete(if_unused=False, if_empty=False)


async def drain_ids(
    queue: AbstractQueue, ids: collections.Counter[str], *, limit: int | None = None
) -> None:
    """Move the events now in ``queue`` (at most ``limit``) into the count of event ids."""
    taken = 0
    while limit is None or taken < limit:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            return
        assert message.message_id is not None
        ids[message.message_id] += 1
        taken += 1


async def post_batches(
    client: TestClient,  # type: ignore[type-arg]
    cdrs: list[dict[str, Any]],
    *,
    size: int = 20,
) -> None:
    """POST ``cdrs`` as batches, ten requests at a time, as a sender that honours 503 would:
    each batch is retried until accepted, and nothing else than 202 or 503 may come back."""
    batches = [cdrs[i : i + size] for i in range(0, len(cdrs), size)]

    async def deliver(batch: list[dict[str, Any]]) -> None:
        for _ in range(20):
            response = await client.post("/webhooks/mcn/password-call", json=batch, headers=AUTH)
            if response.status == 202:
                return
            assert response.status == 503, await response.text()
            await asyncio.sleep(0.5)
        raise AssertionError("a batch was never accepted")

    for start in range(0, len(batches), 10):
        await asyncio.gather(*(deliver(batch) for batch in batches[start : start + 10]))


class ReadinessProbe:
    """Polls /readyz in the background, as a load balancer would, keeping every answer."""

    def __init__(self, client: TestClient) -> None:  # type: ignore[type-arg]
        self._client = client
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        while True:
            response = await self._client.get("/readyz")
            self.answers.append((response.status, await response.json()))
            await asyncio.sleep(0.2)

    def __enter__(self) -> ReadinessProbe:
        self._task = asyncio.create_task(self._poll())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def failed_check(self, name: str) -> bool:
        """Whether some answer was 503 naming ``name`` as the failing check."""
        return any(status == 503 and body["checks"][name] != "ok" for status, body in self.answers)


async def stored_outcomes(settings: Settings) -> int:
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        async with engine.connect() as connection:
            query = "SELECT count(*) FROM password_calls WHERE outcome IS NOT NULL"
            return int(await connection.scalar(sa.text(query)) or 0)
    finally:
        await engine.dispose()


async def test_kill_9_mid_burst_loses_nothing(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    durable_tap: AbstractQueue,
    tmp_path: Path,
) -> None:
    ids: collections.Counter[str] = collections.Counter()
    total, per_request = 4000, 5
    # A small prefetch keeps the first worker's transactions small, so the kill lands
    # mid-burst; a message holds at most the ten concurrent requests' CDRs.
    in_flight = 4 * 10 * per_request
    slow = settings.model_copy(update={"worker_prefetch": 4})
    first = faults.spawn(slow, "worker", log_path=tmp_path / "worker1.log")
    try:
        await post_batches(client, [cdr(i) for i in range(total)], size=per_request)

        async def some_processed() -> bool:
            # Bounded: a drain that kept up with the worker would only end with the burst.
            await drain_ids(durable_tap, ids, limit=50)
            return len(ids) >= 300

        await eventually(some_processed, timeout=60)
    finally:
        assert faults.stop(first, sig=signal.SIGKILL) == -signal.SIGKILL
    assert await stored_outcomes(settings) < total, "the kill must land mid-burst"

    second = faults.spawn(settings, "worker", log_path=tmp_path / "worker2.log")
    try:

        async def all_processed() -> bool:
            await drain_ids(durable_tap, ids)
            return len(ids) >= total

        await eventually(all_processed, timeout=120)
        await asyncio.sleep(1.5)  # anything republished late would arrive now
        await drain_ids(durable_tap, ids)
    finally:
        assert faults.stop(second) == 0, (tmp_path / "worker2.log").read_text()[-2000:]
    assert len(ids) == total
    assert await stored_outcomes(settings) == total
    # An event whose confirm came back just before the kill, but whose "published" mark did
    # not commit, is published again with the same id: at most the in-flight window.
    duplicates = sum(ids.values()) - len(ids)
    assert duplicates <= in_flight, duplicates


async def test_two_workers_on_a_duplicated_stream_publish_once(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    events: EventTap,
) -> None:
    cdrs = [cdr(i, "d") for i in range(300)]
    async with running_worker(settings), running_worker(settings):
        await post_batches(client, cdrs + cdrs, size=25)
        received = await events.collect(300, timeout=60)
        await events.assert_quiet(1.5)
    ids = [message.message_id for message in received]
    assert len(set(ids)) == 300


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PostgresPair]:
    """A PostgreSQL of this test's own to stop: the machine's is shared and never stopped."""
    with running_pair() as pair:
        yield pair


async def test_postgres_outage_loses_nothing(
    make_client: Callable[[Settings], Awaitable[TestClient]],  # type: ignore[type-arg]
    private_postgres: PostgresPair,
    settings: Settings,
    durable_tap: AbstractQueue,
    channel: AbstractChannel,
) -> None:
    patient = settings.model_copy(
        update={
            "database_url": SecretStr(private_postgres.server_url(0)),
            "worker_retry_delays": (0.5, 1.0, 2.0),
            "worker_max_attempts": 20,
        }
    )
    client = await make_client(patient)
    ids: collections.Counter[str] = collections.Counter()
    async with running_worker(patient):
        await post_batches(client, [cdr(i, "a") for i in range(100)])
        with ReadinessProbe(client) as probe:
            with faults.postgres_stopped(private_postgres):
                await post_batches(client, [cdr(i, "b") for i in range(100)])
                await asyncio.sleep(3)
            await eventually(lambda: probe.answers[-1][0] == 200, timeout=30)
        assert probe.failed_check("database"), probe.answers

        async def all_processed() -> bool:
            await drain_ids(durable_tap, ids)
            return len(ids) >= 200

        await eventually(all_processed, timeout=90)
    assert len(ids) == 200
    assert await take_all(channel, DEAD_LETTER_QUEUE) == []
    assert await stored_outcomes(patient) == 200


@pytest.fixture
async def private_node(
    rabbit_node: RabbitCluster, settings: Settings
) -> AsyncIterator[tuple[Settings, BrokerConnection]]:
    """Settings on the session's private RabbitMQ node (the machine's is never restarted),
    and a durable queue there on the events exchange, read through a connection that
    reconnects after the restart."""
    url = f"amqp://guest:guest@127.0.0.1:{rabbit_node.amqp_port(1)}/"
    broker = BrokerConnection(broker_nodes(url), name="test tap")
    await broker.open()
    async with (await broker.current()).channel() as channel:
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(RESTART_TAP, durable=True)
        await queue.purge()
        await queue.bind(exchange, "#")
    yield settings.model_copy(update={"amqp_url": SecretStr(url)}), broker
    await broker.close()


async def test_rabbitmq_restart_under_load(
    make_client: Callable[[Settings], Awaitable[TestClient]],  # type: ignore[type-arg]
    private_node: tuple[Settings, BrokerConnection],
    rabbit_node: RabbitCluster,
) -> None:
    settings, tap = private_node
    client = await make_client(settings)
    statuses: collections.Counter[int] = collections.Counter()
    accepted: set[str] = set()
    after_restart: list[int] = []
    restarted = asyncio.Event()
    done = asyncio.Event()

    async def load() -> None:
        index = 0
        while not done.is_set():
            body = cdr(index, "c")
            response = await client.post("/webhooks/mcn/password-call", json=body, headers=AUTH)
            statuses[response.status] += 1
            if response.status == 202:
                accepted.add(body["verification_call_uuid"])
            if restarted.is_set():
                after_restart.append(response.status)
            index += 1
            await asyncio.sleep(0.005)

    async with running_worker(settings):
        generator = asyncio.create_task(load())
        await asyncio.sleep(1.0)
        with ReadinessProbe(client) as probe:
            # The whole broker goes away: a single node, stopped gracefully and started again.
            await asyncio.to_thread(rabbit_node.stop, 1)
            await asyncio.to_thread(rabbit_node.start, 1)
            restarted.set()
            await eventually(lambda: after_restart.count(202) >= 20, timeout=60)
            await eventually(lambda: probe.answers[-1][0] == 200, timeout=30)
        assert probe.failed_check("broker"), probe.answers
        done.set()
        await generator

        seen: set[str] = set()

        async def every_accepted_processed() -> bool:
            async with (await tap.current()).channel() as channel:
                queue = await channel.get_queue(RESTART_TAP, ensure=False)
                while (message := await queue.get(no_ack=True, fail=False)) is not None:
                    seen.add(json.loads(message.body)["data"]["verification_call_uuid"])
            return accepted <= seen

        await eventually(every_accepted_processed, timeout=60)
    assert set(statuses) <= {202, 503}, statuses
    assert statuses[503] > 0, "the outage was seen"
    # A 503 whose message reached the queue before the connection broke may be processed
    # too: the sender retries it anyway, and the worker deduplicates.
    assert accepted <= seen


async def test_exhausted_retries_are_dead_lettered_then_replayed(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    events: EventTap,
) -> None:
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        async with engine.begin() as connection:  # break the store: the table is gone
            await connection.execute(sa.text("ALTER TABLE password_calls RENAME TO broken"))
        async with running_worker(settings):
            response = await client.post(
                "/webhooks/mcn/password-call", json=cdr(1, "e"), headers=AUTH
            )
            assert response.status == 202

            async def dead_lettered() -> bool:
                listed = await asyncio.to_thread(faults.run_cli, settings, "dlq", "list", "--json")
                return '"retries-exhausted"' in listed.stdout

            await eventually(dead_lettered, timeout=30)
        listed = await asyncio.to_thread(faults.run_cli, settings, "dlq", "list", "--json")
        [letter] = json.loads(listed.stdout)
        assert letter["queue"] == "confirmhub.worker.mcn-cdr"
        assert 'relation "password_calls" does not exist' in letter["detail"]
        async with engine.begin() as connection:  # fix the cause
            await connection.execute(sa.text("ALTER TABLE broken RENAME TO password_calls"))
    finally:
        await engine.dispose()

    async with running_worker(settings):
        replay = await asyncio.to_thread(faults.run_cli, settings, "dlq", "replay", "--all")
        assert replay.stdout.strip() == "replayed 1 message(s)", replay.stderr
        event = await events.next(timeout=20)
        assert event.routing_key == "password_call.busy"
    listed = await asyncio.to_thread(faults.run_cli, settings, "dlq", "list", "--json")
    assert listed.stdout.strip() == "[]"

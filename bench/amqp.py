"""The bench's own broker work: purging, pre-publishing backlogs, counting, tapping events."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import os
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from types import TracebackType

import aio_pika
import orjson
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    DeliveryMode,
)
from aio_pika.exceptions import ChannelNotFoundEntity

from bench.payloads import InboundMessage
from confirmhub.broker import declare_topology
from schemas.events import EVENTS_EXCHANGE
from schemas.inbound import INBOUND_EXCHANGE, MCN_CDR_ROUTING_KEY

_PUBLISH_WINDOW = 500
_SETTLE_WINDOW = 1.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def channel_on(url: str) -> AsyncIterator[AbstractChannel]:
    """A channel on a connection of its own, both closed after the block."""
    connection = await aio_pika.connect(url)
    try:
        yield await connection.channel()
    finally:
        await connection.close()


async def declare_confirmhub_topology(url: str) -> None:
    """The exchanges and queues confirmhub declares at start-up, declared now."""
    async with channel_on(url) as channel:
        await declare_topology(channel)


async def purge(url: str, queues: Iterable[str]) -> None:
    """Empty the queues that exist among ``queues``."""
    connection = await aio_pika.connect(url)
    try:
        for name in queues:
            channel = await connection.channel()
            # A passive declare of a missing queue closes its channel: one channel each.
            with contextlib.suppress(ChannelNotFoundEntity):
                queue = await channel.declare_queue(name, passive=True)
                await queue.purge()
            if not channel.is_closed:
                await channel.close()
    finally:
        await connection.close()


def _broker_cpu_seconds() -> float:
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)
            if fields[0].endswith("(beam.smp"):
                times = fields[1].split()
                total += (int(times[11]) + int(times[12])) / _CLOCK_TICKS
    return total


async def settle(*, quiet_cores: float = 0.15, longest: float = 20.0) -> None:
    """Wait until the local RabbitMQ is nearly idle (or ``longest`` seconds): a purged
    quorum queue keeps the broker busy for seconds, which the next run must not pay for."""
    deadline = time.perf_counter() + longest
    before = await asyncio.to_thread(_broker_cpu_seconds)
    while time.perf_counter() < deadline:
        await asyncio.sleep(_SETTLE_WINDOW)
        after = await asyncio.to_thread(_broker_cpu_seconds)
        if after - before < quiet_cores * _SETTLE_WINDOW:
            return
        before = after


async def purge_and_settle(url: str, queues: Iterable[str]) -> None:
    """Empty the queues, then let the broker finish the work that leaves behind."""
    await purge(url, queues)
    await settle()


async def publish_backlog(url: str, messages: Iterable[InboundMessage]) -> int:
    """Publish CDR messages to ``confirmhub.inbound`` with confirms; how many."""
    published = 0
    async with channel_on(url) as channel:
        exchange = await channel.get_exchange(INBOUND_EXCHANGE, ensure=False)
        iterator = iter(messages)
        while batch := list(itertools.islice(iterator, _PUBLISH_WINDOW)):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            message.body,
                            content_type="application/json",
                            delivery_mode=DeliveryMode.PERSISTENT,
                            message_id=message.message_id,
                            type=message.message_type,
                            correlation_id=message.correlation_id,
                            timestamp=dt.datetime.now(dt.UTC),
                            app_id="confirmhub",
                        ),
                        MCN_CDR_ROUTING_KEY,
                        mandatory=True,
                    )
                    for message in batch
                )
            )
            published += len(batch)
    return published


async def depth(channel: AbstractChannel, queue: str) -> int:
    """Messages ready in ``queue`` (a passive declare)."""
    declared = await channel.declare_queue(queue, passive=True)
    assert declared.declaration_result.message_count is not None
    return declared.declaration_result.message_count


class EventTap:
    """A quorum queue bound to every ``confirmhub.events`` routing key.

    With ``consume=True`` each event's arrival time is kept by its verification_call_uuid;
    otherwise events pile up and :meth:`count` reads the queue's depth.
    """

    def __init__(self, url: str, name: str, *, consume: bool) -> None:
        self.url = url
        self.name = name
        self._consume = consume
        self.arrivals: dict[str, float] = {}
        self._awaited: set[str] = set()
        self._all_arrived = asyncio.Event()
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None

    async def __aenter__(self) -> EventTap:
        self._connection = await aio_pika.connect(self.url)
        self._channel = await self._connection.channel()
        await declare_topology(self._channel)
        exchange = await self._channel.get_exchange(EVENTS_EXCHANGE, ensure=False)
        queue = await self._channel.declare_queue(
            self.name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, "#")
        if self._consume:
            await queue.consume(self._on_event, no_ack=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                # Closing the consuming channel first, so the broker cancels no consumer.
                if self._channel is not None:
                    await self._channel.close()
                channel = await self._connection.channel()
                await channel.queue_delete(self.name)
            await self._connection.close()

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        arrived = time.perf_counter()
        data = orjson.loads(message.body).get("data", {})
        call = str(data.get("verification_call_uuid"))
        self.arrivals[call] = arrived
        self._awaited.discard(call)
        if not self._awaited:
            self._all_arrived.set()

    async def wait_for(self, calls: Iterable[str], *, until: float) -> None:
        """Return once every call's event has arrived, or at ``until`` (perf_counter)."""
        self._awaited = {call for call in calls if call not in self.arrivals}
        if not self._awaited:
            return
        self._all_arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_arrived.wait(), until - time.perf_counter())

    async def count(self) -> int:
        """Events waiting in the tap queue."""
        assert self._channel is not None
        return await depth(self._channel, self.name)

    async def purge(self) -> None:
        """Forget every event seen so far."""
        assert self._channel is not None
        queue = await self._channel.declare_queue(self.name, passive=True)
        await queue.purge()
        self.arrivals.clear()

"""Bulk acks on a real broker: what is acked stays gone, what is in progress comes back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from tests.helpers import eventually
from worker.acks import HOLD_SECONDS, acks_of


@pytest.fixture
async def queue(amqp: AbstractRobustConnection) -> AsyncIterator[AbstractQueue]:
    """A queue of this test's own holding messages 0 to 5."""
    channel = await amqp.channel()
    queue = await channel.declare_queue(f"test.acks.{uuid.uuid4().hex}", auto_delete=False)
    for number in range(6):
        await channel.default_exchange.publish(aio_pika.Message(str(number).encode()), queue.name)
    yield queue
    await queue.delete(if_unused=False, if_empty=False)
    await channel.close()


async def _deliveries(
    channel: AbstractChannel, name: str, count: int
) -> list[AbstractIncomingMessage]:
    queue = await channel.get_queue(name, ensure=False)
    received: list[AbstractIncomingMessage] = []

    async def on_message(message: AbstractIncomingMessage) -> None:
        received.append(message)

    await queue.consume(on_message)
    await eventually(lambda: len(received) == count)
    return sorted(received, key=lambda message: message.delivery_tag or 0)


async def _left_after_close(
    amqp: AbstractRobustConnection, queue: AbstractQueue, settle: list[int]
) -> list[bytes]:
    """Consume all six, ack the deliveries at the ``settle`` positions, close the channel:
    the bodies the queue holds again."""
    channel = await amqp.channel()
    delivered = await _deliveries(channel, queue.name, 6)
    acks = acks_of(await channel.get_underlay_channel())
    for position in settle:
        tag = delivered[position].delivery_tag
        assert tag is not None
        acks.ack(tag)
    await asyncio.sleep(HOLD_SECONDS * 4)
    await acks.wait_sent()
    await channel.close()
    left: list[bytes] = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        left.append(message.body)
    return sorted(left)


async def test_deliveries_settled_together_are_all_acked(
    amqp: AbstractRobustConnection, queue: AbstractQueue
) -> None:
    assert await _left_after_close(amqp, queue, [0, 1, 2, 3, 4, 5]) == []


async def test_a_delivery_in_progress_is_never_covered_by_its_neighbours_acks(
    amqp: AbstractRobustConnection, queue: AbstractQueue
) -> None:
    # The third is still being processed: the others are acked, and only it comes back.
    assert await _left_after_close(amqp, queue, [0, 1, 3, 4, 5]) == [b"2"]


async def test_acks_out_of_order_settle_exactly_those(
    amqp: AbstractRobustConnection, queue: AbstractQueue
) -> None:
    assert await _left_after_close(amqp, queue, [5, 3, 1]) == [b"0", b"2", b"4"]

"""The topology on a real broker, over queues left by earlier releases."""

from __future__ import annotations

import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aio_pika.exceptions import ChannelPreconditionFailed

from confirmhub.broker import DEAD_LETTER_QUEUE, declare_topology
from tests.conftest import RETRY_DELAYS


async def test_a_queue_declared_before_the_group_size_is_accepted_as_it_is(
    amqp: AbstractRobustConnection, channel: AbstractChannel
) -> None:
    # As an earlier release declared it: a quorum queue without x-quorum-initial-group-size.
    await channel.queue_delete(DEAD_LETTER_QUEUE)
    await channel.declare_queue(
        DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    try:
        upgraded = await amqp.channel()
        await declare_topology(upgraded, retry_delays=RETRY_DELAYS)
        await upgraded.close()
    finally:
        await channel.queue_delete(DEAD_LETTER_QUEUE)
        restored = await amqp.channel()
        await declare_topology(restored, retry_delays=RETRY_DELAYS)
        await restored.close()


async def test_a_queue_with_other_arguments_is_still_refused(
    amqp: AbstractRobustConnection, channel: AbstractChannel
) -> None:
    await channel.queue_delete(DEAD_LETTER_QUEUE)
    await channel.declare_queue(
        DEAD_LETTER_QUEUE,
        durable=True,
        arguments={"x-queue-type": "quorum", "x-max-length": 5},
    )
    try:
        refused = await amqp.channel()
        with pytest.raises(ChannelPreconditionFailed):
            await declare_topology(refused, retry_delays=RETRY_DELAYS)
    finally:
        cleanup = await amqp.channel()
        await cleanup.queue_delete(DEAD_LETTER_QUEUE)
        await declare_topology(cleanup, retry_delays=RETRY_DELAYS)
        await cleanup.close()

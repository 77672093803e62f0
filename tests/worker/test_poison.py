"""Messages that can never be processed are dead-lettered with their reason, not looped."""

from __future__ import annotations

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, ExchangeType

from confirmhub.broker import DEAD_LETTER_QUEUE, MCN_CDR_QUEUE
from schemas.inbound import INBOUND_EXCHANGE, MCN_CDR_ROUTING_KEY
from tests.helpers import EventTap, eventually, take_all

pytestmark = pytest.mark.usefixtures("worker")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x00not json", "invalid-message"),
        (b'{"schema_version": 1}', "invalid-message"),
        (
            b'{"schema_version": 1, "request_id": "r", "received_at": "2026-11-22T10:00:00Z",'
            b' "cdr": {"verification_call_uuid": "a_1", "q931_status": "x"}}',
            "invalid-message",
        ),
    ],
)
async def test_poison_message_is_dead_lettered_with_reason(
    channel: AbstractChannel, events: EventTap, body: bytes, reason: str
) -> None:
    inbound = await channel.declare_exchange(INBOUND_EXCHANGE, ExchangeType.TOPIC, durable=True)
    await inbound.publish(
        aio_pika.Message(body, message_id="poison-1", correlation_id="req-1"),
        MCN_CDR_ROUTING_KEY,
    )
    dead: list[AbstractIncomingMessage] = []

    async def dead_lettered() -> bool:
        dead.extend(await take_all(channel, DEAD_LETTER_QUEUE))
        return bool(dead)

    await eventually(dead_lettered)
    [message] = dead
    assert message.body == body
    assert message.headers["x-confirmhub-reason"] == reason
    assert message.headers["x-confirmhub-queue"] == MCN_CDR_QUEUE
    assert message.headers["x-confirmhub-detail"]
    assert message.message_id == "poison-1"
    assert message.correlation_id == "req-1"
    assert await take_all(channel, MCN_CDR_QUEUE) == []
    await events.assert_quiet(0.3)

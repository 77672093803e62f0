"""Group commit: CDRs accepted together travel in one message, and a worker handles such a
message CDR by CDR (a failing CDR is split out and retried or dead-lettered alone)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, ExchangeType
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.broker import DEAD_LETTER_QUEUE, MCN_CDR_QUEUE, ConfirmingPublisher
from confirmhub.broker_connection import BrokerConnection
from confirmhub.settings import Settings
from receiver.webhooks.inbound_queue import InboundQueue
from schemas.bitrix24 import BITRIX24_METHOD_CONFIRM_ROUTING_KEY, InboundMethodConfirm
from schemas.inbound import (
    CDR_MESSAGES,
    INBOUND_EXCHANGE,
    MCN_CDR_ROUTING_KEY,
    METHOD_CONFIRM_MESSAGES,
    InboundCdr,
)
from schemas.mcn import PasswordCallCdr
from tests.helpers import EventTap, body_of, eventually, take_all


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


def inbound(uuid: str, *, request_id: str = "req-1") -> InboundCdr:
    return InboundCdr(
        request_id=request_id,
        received_at=dt.datetime.now(dt.UTC),
        cdr=PasswordCallCdr(verification_call_uuid=uuid, q931_status=17),
    )


async def publish_inbound(channel: AbstractChannel, body: bytes, message_id: str) -> None:
    exchange = await channel.declare_exchange(INBOUND_EXCHANGE, ExchangeType.TOPIC, durable=True)
    await exchange.publish(aio_pika.Message(body, message_id=message_id), MCN_CDR_ROUTING_KEY)


async def test_requests_accepted_while_a_publish_is_in_flight_share_one_message(
    broker: BrokerConnection, channel: AbstractChannel, settings: Settings
) -> None:
    publisher = ConfirmingPublisher(broker, confirm_timeout=5.0)
    queue = InboundQueue(
        publisher, routing_key=MCN_CDR_ROUTING_KEY, codec=CDR_MESSAGES, max_in_flight=1
    )
    uuids = [f"group{index}_1" for index in range(10)]
    await asyncio.gather(
        *(queue.put(f"req-{uuid}", [inbound(uuid, request_id=f"req-{uuid}")]) for uuid in uuids)
    )

    first, second = await take_all(channel, MCN_CDR_QUEUE)
    # The first request found the publisher idle and went alone, in the single-CDR form...
    assert CDR_MESSAGES.decode(first.body)[0].cdr.verification_call_uuid == uuids[0]
    assert first.body.startswith(b'{"schema_version":1')
    assert first.correlation_id == f"req-{uuids[0]}"
    # ...the nine that arrived meanwhile waited for its confirm and went together.
    grouped = CDR_MESSAGES.decode(second.body)
    assert [cdr.cdr.verification_call_uuid for cdr in grouped] == uuids[1:]
    assert [cdr.request_id for cdr in grouped] == [f"req-{uuid}" for uuid in uuids[1:]]
    assert second.message_id == f"req-{uuids[1]}+8"


async def test_an_item_that_cannot_be_encoded_fails_its_request_alone(
    broker: BrokerConnection, channel: AbstractChannel
) -> None:
    publisher = ConfirmingPublisher(broker, confirm_timeout=5.0)
    queue = InboundQueue(publisher, routing_key=MCN_CDR_ROUTING_KEY, codec=CDR_MESSAGES)

    def item(uuid: str, **extras: Any) -> InboundCdr:
        # Built without validation: what validation would refuse, should a path ever skip it.
        return InboundCdr.model_construct(
            request_id=f"req-{uuid}",
            received_at=dt.datetime.now(dt.UTC),
            cdr=PasswordCallCdr.model_construct(
                verification_call_uuid=uuid, q931_status=17, **extras
            ),
        )

    uuids = [f"enc{index}_1" for index in range(6)]
    results = await asyncio.gather(
        *(queue.put(f"req-{uuid}", [item(uuid)]) for uuid in uuids[:3]),
        queue.put("req-bad", [item("bad_1", x="\ud800")]),
        *(queue.put(f"req-{uuid}", [item(uuid)]) for uuid in uuids[3:]),
        return_exceptions=True,
    )
    # The first went alone; the other six shared a message, which the bad one no longer fails.
    failed = [isinstance(result, Exception) for result in results]
    assert failed == [False, False, False, True, False, False, False]
    queued = [
        cdr.cdr.verification_call_uuid
        for message in await take_all(channel, MCN_CDR_QUEUE)
        for cdr in CDR_MESSAGES.decode(message.body)
    ]
    assert sorted(queued) == uuids


@pytest.mark.usefixtures("worker")
async def test_a_grouped_message_gives_each_new_call_one_event(
    channel: AbstractChannel, events: EventTap
) -> None:
    await publish_inbound(channel, CDR_MESSAGES.encode([inbound("done_1")]), "m-1")
    assert body_of(await events.next())["data"]["verification_call_uuid"] == "done_1"

    grouped = [inbound("new_1"), inbound("done_1"), inbound("new_2")]
    grouped.append(inbound("new_1"))  # the same CDR twice in one message
    await publish_inbound(channel, CDR_MESSAGES.encode(grouped), "m-2")

    received = [body_of(message) for message in await events.collect(2)]
    assert sorted((e["data"]["verification_call_uuid"], e["type"]) for e in received) == [
        ("new_1", "password_call.busy"),
        ("new_2", "password_call.busy"),
    ]
    await events.assert_quiet(0.5)


@pytest.fixture
async def failing_call(engine: AsyncEngine, backend: str) -> AsyncIterator[str]:
    """A call the database refuses to store (a trigger), as a row it cannot take would be."""
    uuid = "refused_1"
    async with engine.begin() as connection:
        if backend == "postgresql":
            await connection.exec_driver_sql(
                "CREATE FUNCTION refuse_call() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'refused by test trigger'; END $$ LANGUAGE plpgsql"
            )
            await connection.exec_driver_sql(
                "CREATE TRIGGER refuse_call BEFORE INSERT ON password_calls FOR EACH ROW "
                f"WHEN (NEW.verification_call_uuid = '{uuid}') EXECUTE FUNCTION refuse_call()"
            )
        else:
            await connection.exec_driver_sql(
                "CREATE TRIGGER refuse_call BEFORE INSERT ON password_calls "
                f"WHEN NEW.verification_call_uuid = '{uuid}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
            )
    try:
        yield uuid
    finally:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(
                "DROP TRIGGER refuse_call ON password_calls"
                if backend == "postgresql"
                else "DROP TRIGGER refuse_call"
            )
            if backend == "postgresql":
                await connection.exec_driver_sql("DROP FUNCTION refuse_call()")


@pytest.mark.usefixtures("worker")
async def test_a_failing_cdr_is_split_out_and_dead_lettered_alone(
    channel: AbstractChannel, events: EventTap, failing_call: str
) -> None:
    grouped = [inbound("fine_1"), inbound(failing_call), inbound("fine_2")]
    await publish_inbound(channel, CDR_MESSAGES.encode(grouped), "m-3")

    received = [body_of(message) for message in await events.collect(2)]
    assert sorted(e["data"]["verification_call_uuid"] for e in received) == ["fine_1", "fine_2"]

    dead: list[AbstractIncomingMessage] = []

    async def dead_lettered() -> bool:
        dead.extend(await take_all(channel, DEAD_LETTER_QUEUE))
        return bool(dead)

    await eventually(dead_lettered, timeout=15)
    [letter] = dead
    assert [cdr.cdr.verification_call_uuid for cdr in CDR_MESSAGES.decode(letter.body)] == [
        failing_call
    ]
    assert letter.headers["x-confirmhub-reason"] == "retries-exhausted"
    assert letter.message_id == "m-3/1"
    await events.assert_quiet(0.5)


@pytest.mark.usefixtures("worker")
async def test_a_grouped_bitrix24_message_records_each_decision(
    channel: AbstractChannel, events: EventTap
) -> None:
    decisions = [
        InboundMethodConfirm(
            request_id=f"req-{index}",
            received_at=dt.datetime.now(dt.UTC),
            member_id="0123456789abcdef",
            domain="example.bitrix24.ru",
            method=method,
            token_sha256=f"{index:064x}",
            confirmed=confirmed,
            language_id="en",
            source_ts=1_700_000_000 + index,
        )
        for index, (method, confirmed) in enumerate([("crm.lead.add", True), ("user.get", False)])
    ]
    exchange = await channel.declare_exchange(INBOUND_EXCHANGE, ExchangeType.TOPIC, durable=True)
    await exchange.publish(
        aio_pika.Message(METHOD_CONFIRM_MESSAGES.encode(decisions), message_id="m-4"),
        BITRIX24_METHOD_CONFIRM_ROUTING_KEY,
    )
    received = [body_of(message) for message in await events.collect(2)]
    assert sorted((e["data"]["method"], e["type"]) for e in received) == [
        ("crm.lead.add", "method_confirmation.confirmed"),
        ("user.get", "method_confirmation.denied"),
    ]
    await events.assert_quiet(0.5)

"""What the receiver accepts, the worker records: extras are bounded at the receiver, stored
values fit their columns, and one bad item never takes the others of its message with it.

Before: a CDR with an extra nested 220 levels was answered 202, then the worker could not
parse the message and dead-lettered it whole, with the ordinary CDRs group commit had put
beside it; past 256 levels the whole group was answered 500; an account part of 80 digits
failed PostgreSQL's ``varchar(64)`` attempt after attempt, and so did a provider's name of
more than 64 characters once its SMS had been sent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, ExchangeType
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from pytest_aiohttp import AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.broker import DEAD_LETTER_QUEUE
from confirmhub.db.tables import password_calls
from schemas import limits
from schemas.bitrix24 import BITRIX24_METHOD_CONFIRM_ROUTING_KEY, InboundMethodConfirm
from schemas.inbound import INBOUND_EXCHANGE, MCN_CDR_ROUTING_KEY
from tests.conftest import ADMIN_TOKEN, PORTAL_MEMBER_ID, WEBHOOK_SECRET
from tests.fakes import FakeMcn
from tests.helpers import EventTap, body_of, eventually, nested, take_all
from tests.receiver.test_extras_limits import cdr
from tests.sms_fakes import FakeTwilio
from tests.sms_support import serve

CDR_PATH = "/webhooks/mcn/password-call"
AUTH = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends: PostgreSQL enforces column lengths, SQLite does not."""
    return str(request.param)


async def stored_calls(engine: AsyncEngine, uuids: list[str]) -> dict[str, Any]:
    """The stored rows of these calls, by verification_call_uuid."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            password_calls.select().where(password_calls.c.verification_call_uuid.in_(uuids))
        )
        return {row.verification_call_uuid: row for row in rows}


async def outcome_events(events: EventTap, count: int) -> dict[str, dict[str, Any]]:
    """The next ``count`` events, by the call they are about."""
    received = [body_of(message) for message in await events.collect(count, timeout=15)]
    return {event["data"]["verification_call_uuid"]: event for event in received}


@pytest.mark.usefixtures("worker")
async def test_cdrs_posted_beside_a_refused_one_are_all_recorded(
    client: TestClient,  # type: ignore[type-arg]
    engine: AsyncEngine,
    events: EventTap,
    channel: AbstractChannel,
) -> None:
    at_the_limits = {
        "deepest": nested(limits.EXTRA_DEPTH),
        "largest": "y" * (limits.EXTRAS_BYTES - 400),
    }
    bodies = [cdr(f"plain{index}_117793") for index in range(10)]
    bodies.append(cdr("limits_117793", **at_the_limits))
    bodies.append(cdr("deep_117793", extra=nested(220)))
    bodies += [cdr(f"later{index}_117793") for index in range(10)]

    responses = await asyncio.gather(
        *(client.post(CDR_PATH, json=body, headers=AUTH) for body in bodies)
    )

    statuses = {
        body["verification_call_uuid"]: r.status for body, r in zip(bodies, responses, strict=True)
    }
    assert statuses.pop("deep_117793") == 422
    assert set(statuses.values()) == {202}
    recorded = await outcome_events(events, len(statuses))
    assert set(recorded) == set(statuses)
    rows = await stored_calls(engine, list(statuses))
    assert {uuid: row.outcome for uuid, row in rows.items()} == dict.fromkeys(statuses, "busy")
    await events.assert_quiet(0.5)
    assert await take_all(channel, DEAD_LETTER_QUEUE) == []


@pytest.mark.usefixtures("worker")
async def test_an_account_part_of_80_digits_is_recorded(
    client: TestClient,  # type: ignore[type-arg]
    engine: AsyncEngine,
    events: EventTap,
) -> None:
    uuid = "fa278be48dc2_" + "1" * 80
    response = await client.post(CDR_PATH, json=cdr(uuid), headers=AUTH)
    assert response.status == 202

    event = (await outcome_events(events, 1))[uuid]
    assert (event["data"]["call_id"], event["data"]["account_id"]) == ("fa278be48dc2", "1" * 80)
    assert (await stored_calls(engine, [uuid]))[uuid].account_id == "1" * 80


@pytest.mark.usefixtures("worker")
async def test_a_provider_name_of_128_characters_is_recorded_after_its_sms(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    aiohttp_server: AiohttpServer,
    channel: AbstractChannel,
) -> None:
    twilio = await serve(aiohttp_server, FakeTwilio())
    name = "provider-" + "n" * (limits.NAME - 9)
    options = {
        key: value.get_secret_value() if isinstance(value, SecretStr) else value
        for key, value in twilio.sender_options().items()
    }
    sms_events = await EventTap.bind(channel, "password_call.sms_sent", "password_call.sms_failed")
    for path, body in [
        ("providers", {"name": name, "provider": "Twilio", "isEnabled": True, "options": options}),
        ("templates", {"name": "t", "template": "Your code is %CODE%", "isEnabled": True}),
    ]:
        response = await client.post(f"/api/v2/confirmations/{path}", json=body, headers=ADMIN)
        assert response.status == 201, await response.text()
    fake_mcn.next_uuid = "5a5a00000128_117793"
    response = await client.post(
        "/api/v1/password-calls",
        json={"phone_number": "421222202004", "verification_code": "1234"},
        headers=ADMIN,
    )
    assert response.status == 201, await response.text()

    response = await client.post(CDR_PATH, json=cdr(fake_mcn.next_uuid), headers=AUTH)
    assert response.status == 202

    event = body_of(await sms_events.next(timeout=15))
    assert (event["type"], event["data"]["provider"]) == ("password_call.sms_sent", name)
    state = await client.get(f"/api/v1/password-calls/{fake_mcn.next_uuid}", headers=ADMIN)
    assert ((await state.json())["sms_status"], len(twilio.requests)) == ("sent", 1)
    await sms_events.close()


async def publish_inbound(channel: AbstractChannel, routing_key: str, body: bytes) -> None:
    exchange = await channel.declare_exchange(INBOUND_EXCHANGE, ExchangeType.TOPIC, durable=True)
    await exchange.publish(aio_pika.Message(body, message_id="grouped"), routing_key)


async def dead_letters(channel: AbstractChannel, count: int) -> list[AbstractIncomingMessage]:
    """Wait for ``count`` dead letters, then make sure no more follow."""
    dead: list[AbstractIncomingMessage] = []

    async def arrived() -> bool:
        dead.extend(await take_all(channel, DEAD_LETTER_QUEUE))
        return len(dead) >= count

    await eventually(arrived, timeout=15)
    await asyncio.sleep(0.5)
    dead.extend(await take_all(channel, DEAD_LETTER_QUEUE))
    return dead


def queued_cdr(uuid: str, **fields: Any) -> bytes:
    """A queued CDR as the receiver writes one, with ``fields`` in its CDR."""
    return orjson.dumps(
        {
            "schema_version": 1,
            "request_id": f"req-{uuid}",
            "received_at": "2026-12-02T10:00:00Z",
            "cdr": {"verification_call_uuid": uuid, "q931_status": 17, **fields},
        }
    )


@pytest.mark.usefixtures("worker")
async def test_a_message_with_undecodable_items_loses_only_those(
    channel: AbstractChannel, events: EventTap
) -> None:
    # As a receiver without the bounds queued them, and as a replay from the DLQ brings them.
    items = [
        queued_cdr("good1_1"),
        queued_cdr("deep_1", extra=nested(220)),
        queued_cdr("good2_1"),
        queued_cdr("bad_1", q931_status="seventeen"),
        queued_cdr("good3_1"),
    ]
    body = b'{"schema_version":2,"items":[' + b",".join(items) + b"]}"
    await publish_inbound(channel, MCN_CDR_ROUTING_KEY, body)

    recorded = await outcome_events(events, 3)
    assert sorted(recorded) == ["good1_1", "good2_1", "good3_1"]
    dead = await dead_letters(channel, 2)
    assert sorted(letter.message_id or "" for letter in dead) == ["grouped/1", "grouped/3"]
    assert {letter.headers["x-confirmhub-reason"] for letter in dead} == {"invalid-message"}
    await events.assert_quiet(0.5)


@pytest.mark.usefixtures("worker")
async def test_a_bitrix24_message_with_an_undecodable_item_loses_only_that_one(
    channel: AbstractChannel, events: EventTap
) -> None:
    def decision(index: int, **fields: Any) -> bytes:
        message = InboundMethodConfirm(
            request_id=f"req-{index}",
            received_at=dt.datetime.now(dt.UTC),
            member_id=PORTAL_MEMBER_ID,
            domain="example.bitrix24.com",
            method=f"method.{index}",
            token_sha256=f"{index:064x}",
            confirmed=True,
            language_id="en",
            source_ts=1_700_000_000,
        )
        return orjson.dumps({**message.model_dump(mode="json"), **fields})

    items = [decision(0), decision(1, source_ts=2**63), decision(2)]
    body = b'{"schema_version":2,"items":[' + b",".join(items) + b"]}"
    await publish_inbound(channel, BITRIX24_METHOD_CONFIRM_ROUTING_KEY, body)

    received = [body_of(message) for message in await events.collect(2, timeout=15)]
    assert sorted(event["data"]["method"] for event in received) == ["method.0", "method.2"]
    [dead] = await dead_letters(channel, 1)
    assert (dead.message_id, dead.headers["x-confirmhub-reason"]) == (
        "grouped/1",
        "invalid-message",
    )

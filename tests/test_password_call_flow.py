"""Password calls end to end: webhook in, worker, event out — on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage, DeliveryMode
from aiohttp.test_utils import TestClient

from tests.conftest import ADMIN_TOKEN, WEBHOOK_SECRET
from tests.helpers import EventTap, body_of, eventually, fixture_bytes, metric

pytestmark = pytest.mark.usefixtures("worker")

EVENT_KEYS = {"event_id", "type", "occurred_at", "schema_version", "data"}
DATA_KEYS = {
    "verification_call_uuid",
    "call_id",
    "account_id",
    "phone_number",
    "q931_status",
    "final_status",
    "outcome",
    "q850_cause",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on both backends."""
    return str(request.param)


async def post_cdr(client: TestClient, body: bytes | Any) -> int:  # type: ignore[type-arg]
    """POST a CDR body the way MCN does; returns the status."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    response = await client.post(
        "/webhooks/mcn/password-call",
        data=data,
        headers={"Authorization": f"Bearer {WEBHOOK_SECRET}", "Content-Type": "application/json"},
    )
    return response.status


def assert_contract(message: AbstractIncomingMessage) -> dict[str, Any]:
    """Check an event's properties and envelope against PRODUCT.md; return its body."""
    body = body_of(message)
    assert set(body) == EVENT_KEYS
    assert set(body["data"]) == DATA_KEYS
    assert body["schema_version"] == 1
    assert message.content_type == "application/json"
    assert message.delivery_mode == DeliveryMode.PERSISTENT
    assert message.message_id == body["event_id"]
    assert message.type == body["type"] == message.routing_key
    assert body["occurred_at"].endswith("Z")
    uuid.UUID(body["event_id"])
    return body


FIXTURE_OUTCOMES = [
    (
        "mcn_cdr_answered.json",
        [("fa278be48dc2_117793", 16, "ANSWER", "answered", "NORMAL_CLEARING")],
    ),
    ("mcn_cdr_busy.json", [("fa278be48dc3_117793", 17, "CANCEL", "busy", "USER_BUSY")]),
    (
        "mcn_cdr_no_answer_strings.json",
        [("fa278be48dc4_117793", 16, "CANCEL", "no_answer", "NORMAL_CLEARING")],
    ),
    (
        "mcn_cdr_batch.json",
        [
            ("fa278be48dc5_117793", 31, None, "rejected", "NORMAL_UNSPECIFIED"),
            ("fa278be48dc6_117793", 41, None, "billing_failed", "NORMAL_TEMPORARY_FAILURE"),
        ],
    ),
]


@pytest.mark.parametrize(("fixture", "expected"), FIXTURE_OUTCOMES)
async def test_fixture_cdr_becomes_its_event(
    client: TestClient,  # type: ignore[type-arg]
    events: EventTap,
    fixture: str,
    expected: list[tuple[str, int, str | None, str, str]],
) -> None:
    assert await post_cdr(client, fixture_bytes(fixture)) == 202

    received = {}
    for message in await events.collect(len(expected)):
        body = assert_contract(message)
        received[body["data"]["verification_call_uuid"]] = body
    for call_uuid, q931, final_status, outcome, cause in expected:
        body = received[call_uuid]
        call_id, account_id = call_uuid.rsplit("_", 1)
        assert body["type"] == f"password_call.{outcome}"
        assert body["data"] == {
            "verification_call_uuid": call_uuid,
            "call_id": call_id,
            "account_id": account_id,
            "phone_number": None,
            "q931_status": q931,
            "final_status": final_status,
            "outcome": outcome,
            "q850_cause": cause,
        }
    await events.assert_quiet(0.3)


OUTCOME_TABLE = [
    (16, "ANSWER", "answered"),
    (16, "answer", "answered"),
    (17, "CANCEL", "busy"),
    (17, None, "busy"),
    (16, "CANCEL", "no_answer"),
    (16, None, "no_answer"),
    (31, "CANCEL", "rejected"),
    (41, None, "billing_failed"),
    (1, "CANCEL", "unavailable"),
    (127, "ANSWER", "unavailable"),
]


@pytest.mark.parametrize(("q931", "final_status", "outcome"), OUTCOME_TABLE)
async def test_outcome_table_row(
    client: TestClient,  # type: ignore[type-arg]
    events: EventTap,
    q931: int,
    final_status: str | None,
    outcome: str,
) -> None:
    call_uuid = f"{uuid.uuid4().hex[:12]}_117793"
    cdr: dict[str, Any] = {"verification_call_uuid": call_uuid, "q931_status": str(q931)}
    if final_status is not None:
        cdr["final_status"] = final_status
    assert await post_cdr(client, cdr) == 202

    body = assert_contract(await events.next())
    assert body["type"] == f"password_call.{outcome}"
    assert body["data"]["outcome"] == outcome
    assert body["data"]["q931_status"] == q931
    assert body["data"]["final_status"] == final_status


async def test_duplicate_cdr_publishes_one_event(
    client: TestClient,  # type: ignore[type-arg]
    events: EventTap,
) -> None:
    acked_before = metric(
        "confirmhub_worker_messages_total", queue="confirmhub.worker.mcn-cdr", result="acked"
    )
    cdr = fixture_bytes("mcn_cdr_busy.json")
    assert await post_cdr(client, cdr) == 202
    assert await post_cdr(client, cdr) == 202

    first = assert_contract(await events.next())
    await eventually(
        lambda: (
            metric(
                "confirmhub_worker_messages_total",
                queue="confirmhub.worker.mcn-cdr",
                result="acked",
            )
            >= acked_before + 2
        )
    )
    await events.assert_quiet(0.5)
    assert first["type"] == "password_call.busy"


async def test_initiated_call_event_carries_phone_number(
    client: TestClient,  # type: ignore[type-arg]
    events: EventTap,
    fake_mcn: Any,
) -> None:
    fake_mcn.next_uuid = "0a1b2c3d4e5f_117793"
    response = await client.post(
        "/api/v1/password-calls",
        json={"phone_number": "421222202004", "verification_code": "1234"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status == 201, await response.text()

    assert (
        await post_cdr(
            client,
            {
                "verification_call_uuid": "0a1b2c3d4e5f_117793",
                "q931_status": 16,
                "final_status": "ANSWER",
            },
        )
        == 202
    )
    body = assert_contract(await events.next())
    assert body["data"]["phone_number"] == "421222202004"
    assert body["type"] == "password_call.answered"

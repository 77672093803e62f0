"""A CDR before its initiation, or after it, ends in the same stored state."""

from __future__ import annotations

from typing import Any

import pytest
from aio_pika.abc import AbstractChannel
from aiohttp.test_utils import TestClient

from tests.conftest import ADMIN_TOKEN, WEBHOOK_SECRET
from tests.fakes import FakeMcn
from tests.helpers import EventTap, eventually

pytestmark = pytest.mark.usefixtures("worker")
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TIMESTAMPS = {"initiated_at", "completed_at", "created_at", "updated_at"}


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


async def initiate(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    call_uuid: str,
    number: str = "421222202004",
) -> None:
    fake_mcn.next_uuid = call_uuid
    response = await client.post(
        "/api/v1/password-calls",
        json={"phone_number": number, "verification_code": "1234"},
        headers=ADMIN,
    )
    assert response.status == 201


async def send_cdr(client: TestClient, call_uuid: str) -> None:  # type: ignore[type-arg]
    response = await client.post(
        "/webhooks/mcn/password-call",
        json={"verification_call_uuid": call_uuid, "q931_status": "17", "final_status": "CANCEL"},
        headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
    )
    assert response.status == 202


async def state(client: TestClient, call_uuid: str) -> dict[str, Any]:  # type: ignore[type-arg]
    response = await client.get(f"/api/v1/password-calls/{call_uuid}", headers=ADMIN)
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


def comparable(view: dict[str, Any]) -> dict[str, Any]:
    """The state without the call's own ids and timestamps."""
    ignored = TIMESTAMPS | {"verification_call_uuid", "call_id"}
    return {key: value for key, value in view.items() if key not in ignored}


async def test_order_of_initiation_and_cdr_does_not_matter(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    channel: AbstractChannel,
) -> None:
    events = await EventTap.bind(channel, "password_call.busy")
    await initiate(client, fake_mcn, "aaaa00000001_117793")
    await send_cdr(client, "aaaa00000001_117793")
    initiated_first = await events.next()

    await send_cdr(client, "bbbb00000002_117793")
    cdr_first = await events.next()
    await initiate(client, fake_mcn, "bbbb00000002_117793")

    # Busy is a fallback outcome: either way the SMS is attempted (and fails here, with no
    # provider configured), the second only once its initiation supplies phone and code.
    async def both_sms_settled() -> bool:
        views = [
            await state(client, "aaaa00000001_117793"),
            await state(client, "bbbb00000002_117793"),
        ]
        return all(view["sms_status"] == "failed" for view in views)

    await eventually(both_sms_settled)
    first = await state(client, "aaaa00000001_117793")
    second = await state(client, "bbbb00000002_117793")
    assert comparable(first) == comparable(second)
    assert first["status"] == second["status"] == "completed"
    assert first["outcome"] == second["outcome"] == "busy"
    assert second["phone_number"] == "421222202004"
    assert second["initiated_at"] is not None
    assert second["completed_at"] is not None
    # The event reports what was known when the call ended.
    assert b'"phone_number":"421222202004"' in initiated_first.body
    assert b'"phone_number":null' in cdr_first.body


async def test_repeated_initiation_keeps_the_first(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
) -> None:
    await initiate(client, fake_mcn, "cccc00000003_117793")
    before = await state(client, "cccc00000003_117793")
    # Another number: the first call to a number is live (no CDR), so the number is refused.
    await initiate(client, fake_mcn, "cccc00000003_117793", number="421222202005")
    await eventually(lambda: len(fake_mcn.requests) == 2)
    assert await state(client, "cccc00000003_117793") == before

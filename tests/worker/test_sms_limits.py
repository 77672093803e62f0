"""CONFIRMHUB_SMS_LIMITS_PER_NUMBER: the fallback SMS over the limit is refused, not sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from confirmhub.settings import Settings
from tests.conftest import WEBHOOK_SECRET
from tests.fakes import FakeMcn
from tests.helpers import EventTap, body_of, metric
from tests.sms_fakes import FakeTwilio
from tests.sms_support import ADMIN, add_provider, add_template

Client: TypeAlias = TestClient[web.Request, web.Application]

NUMBER = "421222202004"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings with three SMS per number an hour (the worker reads them too)."""
    return settings.model_copy(update={"sms_limits_per_number": "3/3600"})


async def busy_call(client: Client) -> str:
    """Place a call to NUMBER and post its CDR (busy); returns its id."""
    placed = await client.post(
        "/api/v1/password-calls",
        json={"phone_number": NUMBER, "verification_code": "1234"},
        headers=ADMIN,
    )
    assert placed.status == 201, await placed.text()
    call: str = (await placed.json())["verification_call_uuid"]
    cdr = await client.post(
        "/webhooks/mcn/password-call",
        json={"verification_call_uuid": call, "q931_status": 17, "final_status": "CANCEL"},
        headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
    )
    assert cdr.status == 202
    return call


@pytest.mark.usefixtures("worker")
async def test_the_fourth_sms_to_a_number_within_the_hour_is_refused(
    make_client: Callable[[Settings], Awaitable[Client]],
    settings: Settings,
    fake_mcn: FakeMcn,
    twilio: FakeTwilio,
    sms_events: EventTap,
) -> None:
    fake_mcn.numbered = True
    client = await make_client(settings)
    await add_provider(client, twilio, name="twilio", priority=1)
    await add_template(client, priority=1, text="Your code is %CODE%")
    for _ in range(3):
        await busy_call(client)
        assert body_of(await sms_events.next())["type"] == "password_call.sms_sent"
    before = metric("confirmhub_calls_refused_total", reason="sms-limit-per-number")

    fourth = await busy_call(client)

    event = body_of(await sms_events.next())
    assert event["type"] == "password_call.sms_failed"
    assert event["data"]["verification_call_uuid"] == fourth
    assert event["data"]["error"].startswith("sms-limit-per-number")
    assert len(twilio.requests) == 3
    assert metric("confirmhub_calls_refused_total", reason="sms-limit-per-number") == before + 1
    state = await (await client.get(f"/api/v1/password-calls/{fourth}", headers=ADMIN)).json()
    assert state["sms_status"] == "failed"
    assert state["sms_attempts"] == []

"""A call that does not get through falls back to SMS: once, by priority, with failover."""

from __future__ import annotations

from typing import Any

import pytest
from aio_pika.abc import AbstractChannel
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from pytest_aiohttp import AiohttpServer

from tests.conftest import ADMIN_TOKEN, WEBHOOK_SECRET
from tests.fakes import FakeMcn
from tests.helpers import EventTap, body_of
from tests.sms_fakes import FakeProvider, FakeTwilio, FakeVonage
from tests.worker.sms_support import serve

pytestmark = pytest.mark.usefixtures("worker")
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALL = "5a5a00000001_117793"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


@pytest.fixture
async def twilio(aiohttp_server: AiohttpServer) -> FakeTwilio:
    return await serve(aiohttp_server, FakeTwilio())


@pytest.fixture
async def vonage(aiohttp_server: AiohttpServer) -> FakeVonage:
    return await serve(aiohttp_server, FakeVonage())


@pytest.fixture
async def sms_events(channel: AbstractChannel) -> EventTap:
    return await EventTap.bind(channel, "password_call.sms_sent", "password_call.sms_failed")


async def add_provider(
    client: TestClient,  # type: ignore[type-arg]
    fake: FakeProvider,
    *,
    name: str,
    priority: int,
    enabled: bool = True,
) -> None:
    response = await client.post(
        "/api/v2/confirmations/providers",
        json={
            "name": name,
            "caption": name,
            "provider": fake.provider_type,
            "isEnabled": enabled,
            "priority": priority,
            "options": {
                key: value.get_secret_value() if isinstance(value, SecretStr) else value
                for key, value in fake.sender_options().items()
            },
        },
        headers=ADMIN,
    )
    assert response.status == 201, await response.text()


async def add_template(
    client: TestClient,  # type: ignore[type-arg]
    *,
    priority: int,
    text: str,
    enabled: bool = True,
) -> None:
    response = await client.post(
        "/api/v2/confirmations/templates",
        json={
            "name": f"t{priority}",
            "caption": "code",
            "template": text,
            "isEnabled": enabled,
            "priority": priority,
            "resources": [{"key": "template", "locale": "ru_RU", "value": "Код: %CODE%"}],
        },
        headers=ADMIN,
    )
    assert response.status == 201, await response.text()


async def place_call(client: TestClient, fake_mcn: FakeMcn, *, locale: str | None = None) -> None:  # type: ignore[type-arg]
    fake_mcn.next_uuid = CALL
    body: dict[str, Any] = {"phone_number": "421222202004", "verification_code": "1234"}
    if locale:
        body["locale"] = locale
    response = await client.post("/api/v1/password-calls", json=body, headers=ADMIN)
    assert response.status == 201, await response.text()


async def post_cdr(client: TestClient, q931: int, final_status: str = "CANCEL") -> None:  # type: ignore[type-arg]
    response = await client.post(
        "/webhooks/mcn/password-call",
        json={"verification_call_uuid": CALL, "q931_status": q931, "final_status": final_status},
        headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
    )
    assert response.status == 202


async def test_busy_call_sends_one_sms_through_the_best_provider(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    twilio: FakeTwilio,
    vonage: FakeVonage,
    sms_events: EventTap,
) -> None:
    await add_provider(client, vonage, name="vonage", priority=2)
    await add_provider(client, twilio, name="twilio", priority=1)
    await add_template(client, priority=5, text="Unused %CODE%")
    await add_template(client, priority=1, text="Your code is %CODE%")
    await add_template(client, priority=0, text="Disabled %CODE%", enabled=False)
    await place_call(client, fake_mcn)

    await post_cdr(client, 17)
    await post_cdr(client, 17)  # a redelivery never sends a second SMS

    event = body_of(await sms_events.next())
    assert event["type"] == "password_call.sms_sent"
    assert event["data"]["provider"] == "twilio"
    assert event["data"]["provider_message_id"] == twilio.sent_ids[0]
    assert event["data"]["error"] is None
    assert "1234" not in str(event)
    await sms_events.assert_quiet(1.0)
    assert len(twilio.requests) == 1
    assert twilio.requests[0].fields["Body"] == "Your code is 1234"
    assert twilio.requests[0].fields["To"] == "+421222202004"
    assert vonage.requests == []
    state = await (await client.get(f"/api/v1/password-calls/{CALL}", headers=ADMIN)).json()
    assert (state["sms_status"], state["sms_provider"]) == ("sent", "twilio")


async def test_retryable_failure_fails_over_to_the_next_provider(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    twilio: FakeTwilio,
    vonage: FakeVonage,
    sms_events: EventTap,
) -> None:
    await add_provider(client, twilio, name="twilio", priority=1)
    await add_provider(client, vonage, name="vonage", priority=2)
    await add_template(client, priority=1, text="Your code is %CODE%")
    twilio.fail_next(1, 503, {"code": 20500, "message": "Internal Server Error", "status": 503})
    await place_call(client, fake_mcn, locale="ru_RU")

    await post_cdr(client, 16)  # no answer

    event = body_of(await sms_events.next())
    assert event["type"] == "password_call.sms_sent"
    assert event["data"]["provider"] == "vonage"
    assert len(twilio.requests) == 1
    assert len(vonage.requests) == 1
    assert vonage.requests[0].fields["text"] == "Код: 1234"


async def test_permanent_failure_is_reported_not_retried(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    twilio: FakeTwilio,
    vonage: FakeVonage,
    sms_events: EventTap,
) -> None:
    await add_provider(client, twilio, name="twilio", priority=1)
    await add_provider(client, vonage, name="vonage", priority=2)
    await add_template(client, priority=1, text="Your code is %CODE%")
    twilio.fail_next(1, 401, {"code": 20003, "message": "Authenticate", "status": 401})
    await place_call(client, fake_mcn)

    await post_cdr(client, 1)  # unavailable

    event = body_of(await sms_events.next())
    assert event["type"] == "password_call.sms_failed"
    assert event["data"]["provider"] == "twilio"
    assert "20003" in event["data"]["error"]
    assert vonage.requests == []


async def test_answered_call_sends_no_sms(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    twilio: FakeTwilio,
    sms_events: EventTap,
    events: EventTap,
) -> None:
    await add_provider(client, twilio, name="twilio", priority=1)
    await add_template(client, priority=1, text="Your code is %CODE%")
    await place_call(client, fake_mcn)
    await post_cdr(client, 16, "ANSWER")
    assert body_of(await events.next())["type"] == "password_call.answered"
    await sms_events.assert_quiet(1.0)
    assert twilio.requests == []

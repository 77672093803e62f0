"""A call that does not get through falls back to SMS: once, by priority, with failover."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.fakes import FakeMcn
from tests.helpers import EventTap, body_of
from tests.sms_fakes import FakeTwilio, FakeVonage
from tests.sms_support import (
    ADMIN,
    CALL,
    add_provider,
    add_template,
    place_call,
    post_cdr,
)

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


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

"""Ending a verification without its CDR, end to end: canceled through the API, or ended
``no_cdr`` by the workers' CDR timeout; a CDR that comes afterwards is stored and changes
nothing a user or a consumer sees."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from confirmhub.settings import Settings
from tests.fakes import FakeMcn
from tests.helpers import EventTap, body_of, eventually
from tests.receiver.test_mcn_webhook import assert_problem
from tests.sms_fakes import FakeTwilio, FakeVonage
from tests.sms_support import ADMIN, CALL, add_provider, add_template, place_call, post_cdr
from worker.app import running_worker

Client = TestClient[web.Request, web.Application]

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """A CDR timeout short enough to pass within a test (unless a test's ``cdr_timeout``
    mark asks for another), swept often."""
    mark = request.node.get_closest_marker("cdr_timeout")
    timeout = 1 if mark is None else mark.args[0]
    return settings.model_copy(update={"cdr_timeout_seconds": timeout, "cdr_sweep_interval": 0.2})


# Long enough that no call of the test times out, however slow the machine.
no_timeout = pytest.mark.cdr_timeout(600)


@pytest.fixture
async def calls_events(channel: Any) -> EventTap:
    """A consumer of every password-call event but the SMS ones."""
    return await EventTap.bind(
        channel, *(f"password_call.{name}" for name in ("canceled", "approved", "no_cdr", "busy"))
    )


@pytest.fixture
async def sms_ready(client: Client, twilio: FakeTwilio) -> FakeTwilio:
    """Twilio configured as the one provider, with a template: an SMS fallback can go out."""
    await add_provider(client, twilio, name="twilio", priority=1)
    await add_template(client, priority=1, text="Your code is %CODE%")
    return twilio


async def view(client: Client, call: str = CALL) -> dict[str, Any]:
    """The call as the API shows it."""
    response = await client.get(f"/api/v1/password-calls/{call}", headers=ADMIN)
    assert response.status == 200, await response.text()
    shown: dict[str, Any] = await response.json()
    return shown


async def cancel(client: Client, call: str = CALL) -> Any:
    """POST the cancel of ``call``."""
    return await client.post(f"/api/v1/password-calls/{call}/cancel", headers=ADMIN)


async def check(client: Client, code: str) -> dict[str, Any]:
    """Check ``code`` against ``CALL``."""
    response = await client.post(
        f"/api/v1/password-calls/{CALL}/check", json={"code": code}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def cdr_stored(client: Client, q931: int) -> None:
    """Wait until the worker has stored a CDR with ``q931`` on ``CALL``."""

    async def stored() -> bool:
        return bool((await view(client))["q931_status"] == q931)

    await eventually(stored)


@no_timeout
async def test_a_canceled_call_stops_checking_and_sends_nothing(
    client: Client,
    fake_mcn: FakeMcn,
    sms_ready: FakeTwilio,
    calls_events: EventTap,
    sms_events: EventTap,
) -> None:
    await place_call(client, fake_mcn)
    first = await cancel(client)
    assert first.status == 200, await first.text()
    canceled = await first.json()
    assert (canceled["status"], canceled["verification_status"]) == ("canceled", "canceled")
    again = await cancel(client)
    assert again.status == 200
    assert (await again.json())["status"] == "canceled"

    event = body_of(await calls_events.next())
    assert event["type"] == "password_call.canceled"
    assert event["data"] == {
        "verification_call_uuid": CALL,
        "call_id": "5a5a00000001",
        "account_id": "117793",
        "phone_number": "421222202004",
    }
    assert await check(client, "1234") == {"valid": False, "status": "canceled", "attempts_left": 0}

    # A busy call would fall back to SMS; after the cancel its CDR is only stored.
    await post_cdr(client, 17)
    await cdr_stored(client, 17)
    await calls_events.assert_quiet(1.5)
    await sms_events.assert_quiet(0.1)
    assert sms_ready.sent_ids == []
    shown = await view(client)
    assert (shown["status"], shown["outcome"], shown["sms_status"]) == ("canceled", "busy", None)
    assert len(fake_mcn.requests) == 1


@no_timeout
async def test_a_cancel_mid_send_asks_no_further_provider(
    client: Client,
    fake_mcn: FakeMcn,
    twilio: FakeTwilio,
    vonage: FakeVonage,
    sms_events: EventTap,
) -> None:
    await add_provider(client, twilio, name="twilio", priority=1)
    await add_provider(client, vonage, name="vonage", priority=2)
    await add_template(client, priority=1, text="Your code is %CODE%")
    # Twilio takes its time, then turns the SMS down in a way that would fail over.
    twilio.delay = 2.0
    twilio.fail_next(1, 503, {"code": 20500, "message": "Internal Server Error"})
    await place_call(client, fake_mcn)
    await post_cdr(client, 17)
    await eventually(lambda: twilio.requests)
    assert (await cancel(client)).status == 200

    async def dropped() -> bool:
        return bool((await view(client))["sms_status"] == "canceled")

    await eventually(dropped)
    assert vonage.requests == []
    await sms_events.assert_quiet(0.5)
    assert [attempt["state"] for attempt in (await view(client))["sms_attempts"]] == ["failed"]


@no_timeout
async def test_an_approved_call_cannot_be_canceled(
    client: Client, fake_mcn: FakeMcn, channel: Any
) -> None:
    cancels = await EventTap.bind(channel, "password_call.canceled")
    await assert_problem(await cancel(client), 404)
    await place_call(client, fake_mcn)
    assert (await check(client, "1234"))["status"] == "approved"
    problem = await assert_problem(await cancel(client), 409)
    assert problem["type"].endswith("verification-approved")
    await cancels.assert_quiet(0.5)
    assert (await view(client))["verification_status"] == "approved"


async def test_a_call_without_cdr_ends_no_cdr_and_falls_back_to_sms_once(
    client: Client,
    fake_mcn: FakeMcn,
    sms_ready: FakeTwilio,
    calls_events: EventTap,
    sms_events: EventTap,
) -> None:
    await place_call(client, fake_mcn)
    event = body_of(await calls_events.next())
    assert event["type"] == "password_call.no_cdr"
    assert event["data"] == {
        "verification_call_uuid": CALL,
        "call_id": "5a5a00000001",
        "account_id": "117793",
        "phone_number": "421222202004",
        "q931_status": None,
        "final_status": None,
        "outcome": "no_cdr",
        "q850_cause": None,
    }
    assert body_of(await sms_events.next())["type"] == "password_call.sms_sent"
    assert len(sms_ready.sent_ids) == 1
    shown = await view(client)
    assert (shown["status"], shown["outcome"], shown["sms_status"]) == (
        "completed",
        "no_cdr",
        "sent",
    )

    # The CDR comes after all: stored for operators, nothing else changes.
    await post_cdr(client, 17)
    await cdr_stored(client, 17)
    await calls_events.assert_quiet(1.5)
    await sms_events.assert_quiet(0.1)
    assert len(sms_ready.sent_ids) == 1
    late = await view(client)
    assert (late["outcome"], late["final_status"], late["sms_status"]) == (
        "no_cdr",
        "CANCEL",
        "sent",
    )


# Long enough for a loaded worker to record the CDR first; the quiet wait then outlasts it.
@pytest.mark.cdr_timeout(3)
async def test_a_cdr_in_time_is_not_timed_out(
    client: Client, fake_mcn: FakeMcn, calls_events: EventTap
) -> None:
    await place_call(client, fake_mcn)
    await post_cdr(client, 17)
    assert body_of(await calls_events.next())["type"] == "password_call.busy"
    await calls_events.assert_quiet(3.5)
    assert (await view(client))["outcome"] == "busy"


async def test_two_workers_end_each_call_once(
    client: Client, fake_mcn: FakeMcn, settings: Settings, calls_events: EventTap
) -> None:
    calls = [f"5a5a0000000{n}_117793" for n in range(1, 6)]
    async with running_worker(settings):
        for n, call in enumerate(calls):
            fake_mcn.next_uuid = call
            placed = await client.post(
                "/api/v1/password-calls",
                json={"phone_number": f"42122220200{n}", "verification_code": "1234"},
                headers=ADMIN,
            )
            assert placed.status == 201, await placed.text()
        ended = [body_of(message) for message in await calls_events.collect(len(calls))]
        await calls_events.assert_quiet(1.5)
    assert sorted(event["data"]["verification_call_uuid"] for event in ended) == calls
    assert {event["type"] for event in ended} == {"password_call.no_cdr"}
    assert len({event["event_id"] for event in ended}) == len(calls)

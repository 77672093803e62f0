"""Checking the code a user entered: attempts, expiry, one approval event."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import ADMIN_TOKEN, WEBHOOK_SECRET
from tests.fakes import FakeMcn
from tests.helpers import EventTap, body_of
from tests.receiver.test_mcn_webhook import assert_problem

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALL = "c0de00000001_117793"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


async def place_call(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    call: str = CALL,
    number: str = "421222202004",
) -> None:
    fake_mcn.next_uuid = call
    response = await client.post(
        "/api/v1/password-calls",
        json={"phone_number": number, "verification_code": "1234"},
        headers=ADMIN,
    )
    assert response.status == 201


async def check(client: TestClient, code: str, call: str = CALL) -> dict[str, Any]:  # type: ignore[type-arg]
    response = await client.post(
        f"/api/v1/password-calls/{call}/check", json={"code": code}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def test_right_code_approves_once(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    events: EventTap,
) -> None:
    await place_call(client, fake_mcn)
    assert await check(client, "0000") == {"valid": False, "status": "pending", "attempts_left": 4}
    assert await check(client, "1234") == {"valid": True, "status": "approved", "attempts_left": 0}

    message = await events.next()
    event = body_of(message)
    assert event["type"] == message.routing_key == "password_call.approved"
    assert event["data"] == {
        "verification_call_uuid": CALL,
        "call_id": "c0de00000001",
        "account_id": "117793",
        "phone_number": "421222202004",
    }
    assert (await check(client, "1234"))["status"] == "approved"
    await events.assert_quiet(0.5)
    state = await (await client.get(f"/api/v1/password-calls/{CALL}", headers=ADMIN)).json()
    assert state["verification_status"] == "approved"


async def test_five_wrong_codes_lock_the_call(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    events: EventTap,
) -> None:
    await place_call(client, fake_mcn)
    results = [await check(client, "9999") for _ in range(5)]
    assert [result["attempts_left"] for result in results] == [4, 3, 2, 1, 0]
    assert results[-1]["status"] == "max_attempts_reached"
    assert await check(client, "1234") == {
        "valid": False,
        "status": "max_attempts_reached",
        "attempts_left": 0,
    }
    await events.assert_quiet(0.5)


async def test_right_code_beside_the_last_wrong_guess_is_approved(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    events: EventTap,
) -> None:
    """A wrong guess spends the last attempt while a right code, counted just before, is
    still being checked: the right code approves, and says so."""
    calls = [f"c0de000001{n:02d}_117793" for n in range(6)]
    for n, call in enumerate(calls):
        # A number each: a call to a number is live until its CDR, and none comes here.
        await place_call(client, fake_mcn, call, number=f"4212222020{n:02d}")
        for _ in range(3):
            await check(client, "9999", call)
        # Both attempts are counted (the 4th and 5th); the wrong one, sent first, usually
        # settles first and closes the call while the right one is still being hashed.
        wrong, right = await asyncio.gather(
            check(client, "9999", call), check(client, "1234", call)
        )
        assert right == {"valid": True, "status": "approved", "attempts_left": 0}
        assert wrong["valid"] is False
        state = await (await client.get(f"/api/v1/password-calls/{call}", headers=ADMIN)).json()
        assert state["verification_status"] == "approved"
    approved = [body_of(await events.next())["data"]["verification_call_uuid"] for _ in calls]
    assert sorted(approved) == calls
    await events.assert_quiet(0.5)


async def test_expired_code_is_refused(
    make_client: Any,
    settings: Any,
    fake_mcn: FakeMcn,
    events: EventTap,
) -> None:
    client = await make_client(settings.model_copy(update={"code_ttl_seconds": 1}))
    await place_call(client, fake_mcn)
    await asyncio.sleep(1.2)
    assert await check(client, "1234") == {"valid": False, "status": "expired", "attempts_left": 0}
    await events.assert_quiet(0.3)


async def test_check_errors(client: TestClient, fake_mcn: FakeMcn) -> None:  # type: ignore[type-arg]
    path = f"/api/v1/password-calls/{CALL}/check"
    await assert_problem(await client.post(path, json={"code": "1"}, headers=ADMIN), 404)
    await place_call(client, fake_mcn)
    await assert_problem(await client.post(path, json={}, headers=ADMIN), 422)
    await assert_problem(await client.post(path, json={"code": "1" * 40}, headers=ADMIN), 422)
    await assert_problem(await client.post(path, json={"code": "1234"}), 401)


@pytest.mark.usefixtures("worker")
async def test_call_never_placed_here_has_no_code(
    client: TestClient,  # type: ignore[type-arg]
    events: EventTap,
) -> None:
    response = await client.post(
        "/webhooks/mcn/password-call",
        json={"verification_call_uuid": CALL, "q931_status": 17},
        headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
    )
    assert response.status == 202
    await events.next()
    path = f"/api/v1/password-calls/{CALL}/check"
    await assert_problem(await client.post(path, json={"code": "1234"}, headers=ADMIN), 409)

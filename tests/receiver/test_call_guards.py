"""Placing calls safely: what is refused before MCN is asked, on SQLite and PostgreSQL.

The fake MCN counts every request as a call placed and paid for; each test asserts what the
client gets and how many calls MCN was asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from confirmhub.settings import Settings
from tests.conftest import ADMIN_TOKEN, WEBHOOK_SECRET
from tests.fakes import FakeMcn
from tests.helpers import eventually, metric
from tests.receiver.test_api_keys import bearer, make_key
from tests.receiver.test_mcn_webhook import assert_problem

Client: TypeAlias = TestClient[web.Request, web.Application]
MakeClient = Callable[[Settings], Awaitable[Client]]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NUMBER = "421222202004"
OTHER_NUMBER = "421222202005"
PROBLEM = "urn:confirmhub:problem:"
REFUSED = "confirmhub_calls_refused_total"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


@pytest.fixture
def numbered_mcn(fake_mcn: FakeMcn) -> FakeMcn:
    """The fake MCN, naming each call on its own."""
    fake_mcn.numbered = True
    return fake_mcn


async def place(
    client: Client,
    number: str = NUMBER,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    code: str = "1234",
) -> Any:
    """POST a password call, with an Idempotency-Key if ``key`` is given."""
    sent = {**(headers or ADMIN), **({"Idempotency-Key": key} if key is not None else {})}
    return await client.post(
        "/api/v1/password-calls",
        json={"phone_number": number, "verification_code": code},
        headers=sent,
    )


async def refused(response: Any, status: int, reason: str) -> dict[str, Any]:
    """The problem of a refusal, checked to have this status and reason."""
    problem = await assert_problem(response, status)
    assert problem["type"] == PROBLEM + reason, problem
    return problem


async def end_call(client: Client, verification_call_uuid: str) -> None:
    """Post the call's CDR (busy) and wait until it is recorded."""
    response = await client.post(
        "/webhooks/mcn/password-call",
        json={"verification_call_uuid": verification_call_uuid, "q931_status": 17},
        headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
    )
    assert response.status == 202

    async def completed() -> bool:
        answer = await client.get(f"/api/v1/password-calls/{verification_call_uuid}", headers=ADMIN)
        return bool((await answer.json())["status"] == "completed")

    await eventually(completed)


async def test_same_key_and_body_replays_the_first_answer_without_a_second_call(
    client: Client, fake_mcn: FakeMcn
) -> None:
    first = await place(client, key="order-1")
    second = await place(client, key='"order-1"')  # the draft's quoted form is the same key
    assert (first.status, second.status) == (201, 201)
    assert await second.read() == await first.read()
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Content-Type"] == first.headers["Content-Type"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(fake_mcn.requests) == 1


async def test_same_key_with_another_body_is_422(client: Client, fake_mcn: FakeMcn) -> None:
    assert (await place(client, key="order-1")).status == 201
    before = metric(REFUSED, reason="idempotency-key-reused")
    await refused(await place(client, key="order-1", code="9999"), 422, "idempotency-key-reused")
    assert metric(REFUSED, reason="idempotency-key-reused") == before + 1
    assert len(fake_mcn.requests) == 1


async def test_two_concurrent_requests_with_one_key_place_one_call(
    client: Client, fake_mcn: FakeMcn
) -> None:
    fake_mcn.delay = 1.0
    first = asyncio.ensure_future(place(client, key="order-1"))
    await eventually(lambda: fake_mcn.requests)  # the first is with MCN now
    await refused(await place(client, key="order-1"), 409, "idempotency-key-in-use")
    assert (await first).status == 201
    assert len(fake_mcn.requests) == 1
    replay = await place(client, key="order-1")
    assert (replay.status, replay.headers["Idempotent-Replayed"]) == (201, "true")


async def test_a_key_belongs_to_the_api_key_that_sent_it(
    client: Client, numbered_mcn: FakeMcn
) -> None:
    created = await make_key(client, "calls")
    assert (await place(client, NUMBER, key="order-1")).status == 201
    other = await place(client, OTHER_NUMBER, key="order-1", headers=bearer(created["key"]))
    assert other.status == 201, await other.text()
    assert "Idempotent-Replayed" not in other.headers
    assert len(numbered_mcn.requests) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_an_unusable_key_is_400_and_calls_nobody(
    client: Client, fake_mcn: FakeMcn, key: str
) -> None:
    response = await client.post(
        "/api/v1/password-calls",
        data=orjson.dumps({"phone_number": NUMBER}),
        headers={
            **ADMIN,
            "Content-Type": "application/json",
            "Idempotency-Key": key.encode().decode("latin-1"),
        },
    )
    await refused(response, 400, "invalid-idempotency-key")
    assert fake_mcn.requests == []


async def test_a_request_that_failed_releases_its_key(client: Client, fake_mcn: FakeMcn) -> None:
    fake_mcn.answer_with = (400, {"ok": False, "error": "bad number"})
    assert (await place(client, key="order-1")).status == 502
    fake_mcn.answer_with = None
    retry = await place(client, key="order-1")
    assert retry.status == 201, await retry.text()
    assert "Idempotent-Replayed" not in retry.headers
    assert len(fake_mcn.requests) == 2


async def test_a_key_whose_call_may_have_been_placed_never_calls_again(
    client: Client, fake_mcn: FakeMcn
) -> None:
    fake_mcn.cut = "before-answer"
    await refused(await place(client, key="order-1"), 502, "mcn-answer-lost")
    fake_mcn.cut = None
    await refused(await place(client, key="order-1"), 409, "idempotency-key-in-doubt")
    assert len(fake_mcn.requests) == 1


async def test_a_live_call_to_the_number_is_409_naming_it(
    client: Client, fake_mcn: FakeMcn, worker: None
) -> None:
    first = await place(client)
    assert first.status == 201
    live = (await first.json())["verification_call_uuid"]
    before = metric(REFUSED, reason="live-call")
    problem = await refused(await place(client), 409, "live-call")
    assert problem["verification_call_uuid"] == live
    assert metric(REFUSED, reason="live-call") == before + 1
    assert len(fake_mcn.requests) == 1
    await end_call(client, live)
    assert (await place(client)).status == 201
    assert len(fake_mcn.requests) == 2


async def test_the_limit_per_number_refuses_the_fourth_call_in_its_window(
    make_client: MakeClient, settings: Settings, numbered_mcn: FakeMcn, worker: None
) -> None:
    client = await make_client(settings.model_copy(update={"call_limits_per_number": "3/600"}))
    for _ in range(3):
        response = await place(client)
        assert response.status == 201, await response.text()
        await end_call(client, (await response.json())["verification_call_uuid"])
    before = metric(REFUSED, reason="call-limit-per-number")
    fourth = await place(client)
    problem = await refused(fourth, 429, "call-limit-per-number")
    retry_after = int(fourth.headers["Retry-After"])
    assert 1 <= retry_after <= 200
    assert problem["retry_after"] == retry_after
    assert metric(REFUSED, reason="call-limit-per-number") == before + 1
    assert len(numbered_mcn.requests) == 3
    assert (await place(client, OTHER_NUMBER)).status == 201
    assert len(numbered_mcn.requests) == 4


async def test_the_limit_per_key_holds_across_two_receivers_under_fifty_requests(
    make_client: MakeClient, settings: Settings, numbered_mcn: FakeMcn
) -> None:
    """Fifty numbers, so that only the limit can refuse: the live-call rule and the number's
    claim never meet two requests for one number."""
    limited = settings.model_copy(update={"call_limits_per_key": "3/600"})
    receivers = [await make_client(limited), await make_client(limited)]
    answers = await asyncio.gather(*(place(receivers[n % 2], f"4212222{n:05d}") for n in range(50)))
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [201] * 3 + [429] * 47
    for answer in answers:
        if answer.status == 429:
            await refused(answer, 429, "call-limit-per-key")
            assert int(answer.headers["Retry-After"]) >= 1
    assert len(numbered_mcn.requests) == 3


async def test_a_number_outside_the_countries_is_403_and_calls_nobody(
    make_client: MakeClient, settings: Settings, fake_mcn: FakeMcn
) -> None:
    client = await make_client(settings.model_copy(update={"call_countries": "420,1"}))
    before = metric(REFUSED, reason="country-not-allowed")
    await refused(await place(client, NUMBER), 403, "country-not-allowed")
    assert metric(REFUSED, reason="country-not-allowed") == before + 1
    assert fake_mcn.requests == []
    assert (await place(client, "+420222202004")).status == 201
    assert len(fake_mcn.requests) == 1


async def test_a_cancel_with_a_key_is_answered_once_and_replayed(
    client: Client, fake_mcn: FakeMcn
) -> None:
    placed = await place(client)
    call = (await placed.json())["verification_call_uuid"]
    cancel = f"/api/v1/password-calls/{call}/cancel"
    first = await client.post(cancel, headers={**ADMIN, "Idempotency-Key": "cancel-1"})
    again = await client.post(cancel, headers={**ADMIN, "Idempotency-Key": "cancel-1"})
    assert (first.status, again.status) == (200, 200)
    assert await again.read() == await first.read()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = f"/api/v1/password-calls/{fake_mcn.next_uuid}0/cancel"
    reused = await client.post(other, headers={**ADMIN, "Idempotency-Key": "cancel-1"})
    await refused(reused, 422, "idempotency-key-reused")


async def test_a_canceled_call_no_longer_holds_its_number(
    client: Client, numbered_mcn: FakeMcn
) -> None:
    call = (await (await place(client)).json())["verification_call_uuid"]
    await refused(await place(client), 409, "live-call")
    canceled = await client.post(f"/api/v1/password-calls/{call}/cancel", headers=ADMIN)
    assert canceled.status == 200
    assert (await place(client)).status == 201
    assert len(numbered_mcn.requests) == 2

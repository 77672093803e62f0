"""A password call is placed at most once, whatever fails around MCN's answer.

The fake MCN counts every request it receives as a call placed (and paid for) unless it
refuses it. Each test takes something away at one step — the database before the request is
recorded, the database after MCN answered, MCN's answer itself — and asserts what the client
gets and how many calls MCN was asked for, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from confirmhub.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.db_outage import DatabaseOutage, PostgresCut, SqliteWriterLock
from tests.fakes import FakeMcn
from tests.receiver.test_mcn_webhook import assert_problem

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NUMBER = "421222202004"
CALL = "da59bda0a1bb_117793"
IN_DOUBT = "urn:confirmhub:problem:call-in-doubt"
ANSWER_LOST = "urn:confirmhub:problem:mcn-answer-lost"
NOT_RECORDED = "urn:confirmhub:problem:call-not-recorded"

Client: TypeAlias = TestClient[web.Request, web.Application]
MakeClient = Callable[[Settings], Awaitable[Client]]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


@pytest.fixture
async def outage(backend: str, database_url: str) -> AsyncIterator[DatabaseOutage]:
    """A way to take this test's database away from the app and give it back."""
    if backend == "postgresql":
        cut = PostgresCut(database_url)
        await cut.open()
        yield cut
        await cut.begin()  # closes the proxy
        return
    lock = SqliteWriterLock(database_url)
    yield lock
    await lock.end()


@pytest.fixture
async def app_client(make_client: MakeClient, settings: Settings, outage: DatabaseOutage) -> Client:
    """The receiver, on a database the test can take away."""
    return await make_client(settings.model_copy(update={"database_url": SecretStr(outage.url)}))


async def place(client: Client, number: str = NUMBER) -> Any:
    """POST a password call with a code of the client's choosing."""
    return await client.post(
        "/api/v1/password-calls",
        json={"phone_number": number, "verification_code": "1234"},
        headers=ADMIN,
    )


async def problem_type(response: Any, status: int) -> str:
    """The problem type of an error answer with this status."""
    return str((await assert_problem(response, status))["type"])


async def test_database_down_before_the_request_is_recorded_places_nothing(
    app_client: Client, fake_mcn: FakeMcn, outage: DatabaseOutage
) -> None:
    await outage.begin()
    await assert_problem(await place(app_client), 503)
    assert fake_mcn.requests == []

    await outage.end()
    assert (await place(app_client)).status == 201
    assert len(fake_mcn.requests) == 1


async def test_database_down_after_mcn_placed_the_call_places_no_second_call(
    app_client: Client, fake_mcn: FakeMcn, outage: DatabaseOutage
) -> None:
    fake_mcn.on_call = outage.begin
    problem = await assert_problem(await place(app_client), 503)
    assert problem["type"] == NOT_RECORDED
    assert CALL in problem["detail"], "the operator and client learn which call was placed"
    fake_mcn.on_call = None

    # Retried while the database is still away: refused before MCN is asked.
    await assert_problem(await place(app_client), 503)
    await outage.end()
    # Retried once it is back: the number is held by the request whose call was not recorded.
    assert await problem_type(await place(app_client), 409) == IN_DOUBT
    assert len(fake_mcn.requests) == 1
    # Another number is not held.
    assert (await place(app_client, "421222202005")).status == 201


async def test_database_back_soon_after_mcn_answered_records_the_call(
    app_client: Client, fake_mcn: FakeMcn, outage: DatabaseOutage
) -> None:
    async def blip() -> None:
        await outage.begin()
        asyncio.get_running_loop().call_later(1.0, lambda: asyncio.ensure_future(outage.end()))

    fake_mcn.on_call = blip
    response = await place(app_client)
    assert response.status == 201, await response.text()
    fetched = await app_client.get(f"/api/v1/password-calls/{CALL}", headers=ADMIN)
    assert (await fetched.json())["phone_number"] == NUMBER
    check = await app_client.post(
        f"/api/v1/password-calls/{CALL}/check", json={"code": "1234"}, headers=ADMIN
    )
    assert (await check.json())["status"] == "approved"
    assert len(fake_mcn.requests) == 1


@pytest.mark.parametrize("mcn_failure", ["refused", "timeout"])
async def test_database_down_when_mcn_failed_holds_the_number(
    make_client: MakeClient,
    settings: Settings,
    fake_mcn: FakeMcn,
    outage: DatabaseOutage,
    mcn_failure: str,
) -> None:
    client = await make_client(
        settings.model_copy(update={"database_url": SecretStr(outage.url), "mcn_api_timeout": 0.5})
    )
    if mcn_failure == "refused":
        fake_mcn.answer_with = (402, {"ok": False, "message": "Insufficient funds"})
    else:
        fake_mcn.delay = 1.0
    fake_mcn.on_call = outage.begin
    await assert_problem(await place(client), 502)
    await outage.end()
    # What MCN did could not be written down, so the request still holds its number.
    assert await problem_type(await place(client), 409) == IN_DOUBT
    assert len(fake_mcn.requests) == 1


@pytest.mark.parametrize("failure", ["timeout", "cut-before-answer", "cut-after-headers", "500"])
async def test_lost_mcn_answer_holds_the_number_until_the_call_is_over(
    make_client: MakeClient,
    settings: Settings,
    fake_mcn: FakeMcn,
    outage: DatabaseOutage,
    failure: str,
) -> None:
    client = await make_client(
        settings.model_copy(
            update={
                "database_url": SecretStr(outage.url),
                "mcn_api_timeout": 0.5,
                "cdr_timeout_seconds": 2,
            }
        )
    )
    if failure == "timeout":
        fake_mcn.delay = 1.0
    elif failure == "500":
        fake_mcn.answer_with = (500, {"detail": "internal"})
    else:
        fake_mcn.cut = "before-answer" if failure == "cut-before-answer" else "after-headers"
    problem = await assert_problem(await place(client), 502)
    assert problem["type"] == ANSWER_LOST
    assert "may have been placed" in problem["detail"]

    fake_mcn.delay, fake_mcn.answer_with, fake_mcn.cut = 0, None, None
    retried = await assert_problem(await place(client), 409)
    assert retried["type"] == IN_DOUBT
    assert len(fake_mcn.requests) == 1
    assert (await place(client, "421222202005")).status == 201

    # Once any call it placed is surely over (the CDR timeout), the number is free again.
    await asyncio.sleep(2.1)
    assert (await place(client)).status == 201
    assert len(fake_mcn.requests) == 3


@pytest.mark.parametrize(
    "answer",
    [
        (402, {"ok": False, "message": "Insufficient funds"}),
        (200, {"ok": "false", "error": "Number blocked"}),
        (401, {"detail": "Invalid token"}),
    ],
)
async def test_refused_call_frees_the_number(
    app_client: Client, fake_mcn: FakeMcn, answer: tuple[int, dict[str, Any]]
) -> None:
    fake_mcn.answer_with = answer
    assert (
        await problem_type(await place(app_client), 502) == "urn:confirmhub:problem:upstream-error"
    )
    fake_mcn.answer_with = None
    assert (await place(app_client)).status == 201
    assert len(fake_mcn.requests) == 2


async def test_unreachable_mcn_frees_the_number(
    make_client: MakeClient, settings: Settings, outage: DatabaseOutage
) -> None:
    client = await make_client(
        settings.model_copy(
            update={"database_url": SecretStr(outage.url), "mcn_api_url": "http://127.0.0.1:9"}
        )
    )
    for _ in range(2):
        problem = await assert_problem(await place(client), 502)
        assert problem["type"] == "urn:confirmhub:problem:upstream-error"


async def test_concurrent_requests_for_one_number_place_one_call(
    app_client: Client, fake_mcn: FakeMcn
) -> None:
    fake_mcn.delay = 0.5
    # "+421…" and "421…" are one number.
    numbers = ["+421222202004", "421222202004"] * 2
    responses = await asyncio.gather(*(place(app_client, number) for number in numbers))
    assert sorted(response.status for response in responses) == [201, 409, 409, 409]
    for response in responses:
        if response.status == 409:
            assert await problem_type(response, 409) == IN_DOUBT
    assert len(fake_mcn.requests) == 1

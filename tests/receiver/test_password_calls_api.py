"""``/api/v1/password-calls`` against a fake MCN API served on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import ADMIN_TOKEN, MCN_API_TOKEN
from tests.fakes import FakeMcn
from tests.receiver.test_mcn_webhook import assert_problem

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_create_calls_mcn_and_stores_the_call(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
) -> None:
    response = await client.post(
        "/api/v1/password-calls",
        json={
            "phone_number": "421222202004",
            "verification_code": "1234",
            "is_with_redirect": True,
        },
        headers=ADMIN,
    )
    assert response.status == 201, await response.text()
    created = await response.json()
    assert fake_mcn.requests == [
        {
            "authorization": f"Bearer {MCN_API_TOKEN}",
            "phone_number": "421222202004",
            "verification_code": "1234",
            "is_with_redirect": True,
        }
    ]
    assert response.headers["Location"] == "/api/v1/password-calls/da59bda0a1bb_117793"
    assert created["status"] == "calling"
    assert created["phone_number"] == "421222202004"
    assert created["call_id"] == "da59bda0a1bb"
    assert created["account_id"] == "117793"
    assert "1234" not in await response.text(), "the code never leaves the service"

    fetched = await client.get(response.headers["Location"], headers=ADMIN)
    assert fetched.status == 200
    assert await fetched.json() == created


async def test_create_without_code_lets_mcn_choose(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
) -> None:
    response = await client.post(
        "/api/v1/password-calls", json={"phone_number": "+421222202004"}, headers=ADMIN
    )
    assert response.status == 201
    assert fake_mcn.requests[0]["phone_number"] == "+421222202004"
    assert "verification_code" not in fake_mcn.requests[0]
    assert "5678" not in await response.text()


@pytest.mark.parametrize(
    ("upstream", "message"),
    [
        ((401, {"ok": False, "message": "Invalid token"}), "Invalid token"),
        ((200, {"ok": False, "error": "Insufficient funds"}), "Insufficient funds"),
        ((500, {"detail": "internal"}), "internal"),
    ],
)
async def test_upstream_failure_is_502_with_its_message(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    upstream: tuple[int, dict[str, Any]],
    message: str,
) -> None:
    fake_mcn.answer_with = upstream
    response = await client.post(
        "/api/v1/password-calls", json={"phone_number": "421222202004"}, headers=ADMIN
    )
    problem = await assert_problem(response, 502)
    assert message in problem["detail"]
    missing = await client.get("/api/v1/password-calls/da59bda0a1bb_117793", headers=ADMIN)
    await assert_problem(missing, 404)


async def test_unreachable_mcn_is_502(make_client: Any, settings: Any) -> None:
    client = await make_client(settings.model_copy(update={"mcn_api_url": "http://127.0.0.1:9"}))
    response = await client.post(
        "/api/v1/password-calls", json={"phone_number": "421222202004"}, headers=ADMIN
    )
    await assert_problem(response, 502)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"phone_number": "12"},
        {"phone_number": "421222202004", "verification_code": "12345"},
        {"phone_number": "421222202004", "is_with_redirect": "perhaps"},
        {"phone_number": "421222202004", "surprise": 1},
        ["421222202004"],
    ],
)
async def test_invalid_request_is_422_and_mcn_not_called(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    body: Any,
) -> None:
    response = await client.post("/api/v1/password-calls", json=body, headers=ADMIN)
    await assert_problem(response, 422)
    assert fake_mcn.requests == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": ADMIN_TOKEN}],
)
async def test_api_requires_admin_token(
    client: TestClient,  # type: ignore[type-arg]
    fake_mcn: FakeMcn,
    headers: dict[str, str],
) -> None:
    await assert_problem(await client.get("/api/v1/password-calls/a_1", headers=headers), 401)
    response = await client.post(
        "/api/v1/password-calls", json={"phone_number": "421222202004"}, headers=headers
    )
    await assert_problem(response, 401)
    assert fake_mcn.requests == []


async def test_unknown_call_is_404(client: TestClient) -> None:  # type: ignore[type-arg]
    await assert_problem(await client.get("/api/v1/password-calls/x_1", headers=ADMIN), 404)
    long_id = "a" * 500 + "_1"
    await assert_problem(await client.get(f"/api/v1/password-calls/{long_id}", headers=ADMIN), 404)


async def test_without_an_mcn_token_nothing_is_recorded(
    make_client: Any, settings: Any, fake_mcn: FakeMcn
) -> None:
    unconfigured = await make_client(settings.model_copy(update={"mcn_api_token": None}))
    body = {"phone_number": "421222202004"}
    response = await unconfigured.post("/api/v1/password-calls", json=body, headers=ADMIN)
    assert (await assert_problem(response, 503))["type"] == "urn:confirmhub:problem:not-configured"
    # The refused request did not hold the number: a configured receiver calls it at once.
    configured = await make_client(settings)
    assert (await configured.post("/api/v1/password-calls", json=body, headers=ADMIN)).status == 201
    assert len(fake_mcn.requests) == 1

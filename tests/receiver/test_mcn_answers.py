"""What MCN answers, in all its variety: a placed call is always stored, a refusal or a lost
answer is told apart, and nothing MCN sends leaks the code into a problem or a log line."""

from __future__ import annotations

from typing import Any, TypeAlias

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from receiver.api.mcn_client import MAX_RESPONSE_BYTES
from tests.conftest import ADMIN_TOKEN
from tests.fakes import FakeMcn
from tests.receiver.test_mcn_webhook import assert_problem

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALL = "fa278be48dc2_117793"
Client: TypeAlias = TestClient[web.Request, web.Application]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends: a placed call must be stored on either."""
    return str(request.param)


async def place(client: Client, body: dict[str, Any] | None = None) -> Any:
    """POST a password call to a fixed number."""
    return await client.post(
        "/api/v1/password-calls",
        json={"phone_number": "421222202004", **(body or {})},
        headers=ADMIN,
    )


async def check(client: Client, code: str) -> dict[str, Any]:
    """Check a code against the placed call."""
    response = await client.post(
        f"/api/v1/password-calls/{CALL}/check", json={"code": code}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    result: dict[str, Any] = await response.json()
    return result


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ({"ok": "true", "verification_uuid": CALL, "verification_code": "2468"}, "2468"),
        ({"ok": 1, "verification_call_uuid": CALL, "verification_code": 2468}, "2468"),
        ({"ok": " TRUE ", "verification_uuid": CALL, "verification_code": 468}, "0468"),
        (
            {"ok": "1", "verification_uuid": CALL, "verification_code": "2468", "is_redirect": "0"},
            "2468",
        ),
        ({"verification_uuid": CALL, "verification_code": "2468", "is_redirect": "maybe"}, "2468"),
    ],
)
async def test_placed_call_is_stored_whatever_shape_mcn_answers_in(
    client: Client, fake_mcn: FakeMcn, answer: dict[str, Any], code: str
) -> None:
    fake_mcn.answer_with = (200, answer)
    response = await place(client)
    assert response.status == 201, await response.text()
    assert (await response.json())["verification_call_uuid"] == CALL
    assert code not in await response.text()
    assert await check(client, code) == {"valid": True, "status": "approved", "attempts_left": 0}


async def test_placed_call_is_stored_with_the_clients_code(
    client: Client, fake_mcn: FakeMcn
) -> None:
    fake_mcn.answer_with = (
        200,
        {"ok": "yes", "verification_uuid": CALL, "verification_code": None},
    )
    assert (await place(client, {"verification_code": "1357"})).status == 201
    assert (await check(client, "1357"))["valid"] is True


@pytest.mark.parametrize("status", [200, 400, 500])
async def test_reply_without_a_message_never_shows_the_code(
    client: Client, fake_mcn: FakeMcn, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    fake_mcn.answer_with = (status, {"verification_code": "2468", "caller_number": "+74950002468"})
    problem = await assert_problem(await place(client), 502)
    assert "no message" in problem["detail"]
    assert "2468" not in str(problem)
    logged = capsys.readouterr().err
    assert "http.request" in logged
    assert "2468" not in logged


async def test_message_quoting_the_code_is_masked(
    client: Client, fake_mcn: FakeMcn, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_mcn.answer_with = (
        200,
        {"ok": "false", "error": {"message": "call from +74950002468 (code 2468) refused"}},
    )
    problem = await assert_problem(await place(client), 502)
    assert problem["type"] == "urn:confirmhub:problem:upstream-error"
    assert "call from +**** (code ****) refused" in problem["detail"]
    assert "2468" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "answer",
    [
        {"ok": True},
        {"ok": "true", "verification_uuid": "not a call id"},
        {"ok": False, "verification_uuid": CALL},
        ["ok"],
    ],
)
async def test_success_without_a_usable_call_id_is_in_doubt(
    client: Client, fake_mcn: FakeMcn, answer: Any
) -> None:
    fake_mcn.answer_with = (200, answer)
    problem = await assert_problem(await place(client), 502)
    assert problem["type"] == "urn:confirmhub:problem:mcn-answer-lost"
    await assert_problem(await client.get(f"/api/v1/password-calls/{CALL}", headers=ADMIN), 404)


async def test_endless_reply_is_not_read_past_the_limit(client: Client, fake_mcn: FakeMcn) -> None:
    fake_mcn.endless_body = True
    problem = await assert_problem(await place(client), 502)
    assert problem["type"] == "urn:confirmhub:problem:mcn-answer-lost"
    assert str(MAX_RESPONSE_BYTES) in problem["detail"]
    # What the client did not read sits in socket buffers at most, not the stream a reader
    # without a bound keeps taking until its timeout.
    assert fake_mcn.bytes_sent < 4 * 2**20

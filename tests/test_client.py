"""The downstream helper against a real HTTP server on loopback standing in for confirmhub."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import ValidationError
from pytest_aiohttp import AiohttpServer
from yarl import URL

from confirmhub.client import ConfirmhubClient, ConfirmhubClientError, classify_bitrix24_response

ADMIN_TOKEN = "client-test-admin-token"
ACCESS_TOKEN = "fkp963yuv1ggkfbs5z3f5hy8lilm0iw6"
TOKEN_SHA256 = hashlib.sha256(ACCESS_TOKEN.encode()).hexdigest()
MEMBER_ID = "74ef8a46a75104de55d5d4a61b98ab6d"
METHOD = "voximplant.user.get"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"result": []}, "ok"),
        (204, None, "ok"),
        (401, {"error": "METHOD_CONFIRM_WAITING", "error_description": "Waiting"}, "waiting"),
        (403, {"error": "METHOD_CONFIRM_DENIED", "error_description": "Denied"}, "denied"),
        (401, {"error": "expired_token"}, "error"),
        (401, None, "error"),
        (403, {"error": "METHOD_CONFIRM_WAITING"}, "error"),
        (401, {"error": "METHOD_CONFIRM_DENIED"}, "error"),
        (500, {"error": "INTERNAL_SERVER_ERROR"}, "error"),
        (302, None, "error"),
    ],
)
def test_classify_bitrix24_response(
    status: int, body: dict[str, Any] | None, expected: str
) -> None:
    assert classify_bitrix24_response(status, body) == expected


@dataclass
class FakeConfirmhub:
    """Records requests and answers as the method-confirmation API does."""

    requests: list[tuple[str, str, str | None, Any]] = field(default_factory=list)
    statuses: dict[tuple[str, str, str], str] = field(default_factory=dict)
    fail_with: int | None = None

    async def put(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._record(request, body)
        if self.fail_with is not None:
            return _problem(self.fail_with)
        key = (
            body["member_id"],
            hashlib.sha256(body["token"].encode()).hexdigest(),
            body["method"],
        )
        status = self.statuses.setdefault(key, "pending")
        return web.json_response({"member_id": key[0], "token_sha256": key[1], "status": status})

    async def get(self, request: web.Request) -> web.Response:
        self._record(request, None)
        if self.fail_with is not None:
            return _problem(self.fail_with)
        info = request.match_info
        status = self.statuses.get((info["member_id"], info["token_sha256"], info["method"]))
        if status is None:
            return _problem(404)
        return web.json_response({"status": status})

    def _record(self, request: web.Request, body: Any) -> None:
        self.requests.append(
            (request.method, request.raw_path, request.headers.get("Authorization"), body)
        )


def _problem(status: int) -> web.Response:
    problem = {"type": "about:blank", "title": "Nope", "status": status, "detail": "refused"}
    return web.json_response(problem, status=status, content_type="application/problem+json")


@pytest.fixture
def fake() -> FakeConfirmhub:
    return FakeConfirmhub()


@pytest.fixture
async def client(
    aiohttp_server: AiohttpServer, fake: FakeConfirmhub
) -> AsyncIterator[ConfirmhubClient]:
    app = web.Application()
    app.router.add_put("/prefix/api/v1/method-confirmations", fake.put)
    app.router.add_get(
        "/prefix/api/v1/method-confirmations/{member_id}/{token_sha256}/{method}", fake.get
    )
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        yield ConfirmhubClient(session, server.make_url("/prefix/"), ADMIN_TOKEN)


async def test_register_waiting_puts_the_token_in_the_body_only(
    client: ConfirmhubClient, fake: FakeConfirmhub
) -> None:
    status = await client.register_waiting(MEMBER_ID, ACCESS_TOKEN, METHOD)

    assert status == "pending"
    [(method, path, authorization, body)] = fake.requests
    assert (method, path) == ("PUT", "/prefix/api/v1/method-confirmations")
    assert authorization == f"Bearer {ADMIN_TOKEN}"
    assert body == {"member_id": MEMBER_ID, "token": ACCESS_TOKEN, "method": METHOD}


async def test_status_is_read_by_token_hash(client: ConfirmhubClient, fake: FakeConfirmhub) -> None:
    fake.statuses[(MEMBER_ID, TOKEN_SHA256, METHOD)] = "confirmed"

    status = await client.confirmation_status(MEMBER_ID, ACCESS_TOKEN, "VoxImplant.User.Get")

    assert status == "confirmed"
    [(method, path, authorization, _)] = fake.requests
    assert method == "GET"
    assert path == f"/prefix/api/v1/method-confirmations/{MEMBER_ID}/{TOKEN_SHA256}/{METHOD}"
    assert ACCESS_TOKEN not in path
    assert authorization == f"Bearer {ADMIN_TOKEN}"


async def test_registered_then_read(client: ConfirmhubClient) -> None:
    await client.register_waiting(MEMBER_ID, ACCESS_TOKEN, METHOD)

    assert await client.confirmation_status(MEMBER_ID, ACCESS_TOKEN, METHOD) == "pending"


async def test_unknown_confirmation_is_none(client: ConfirmhubClient) -> None:
    assert await client.confirmation_status(MEMBER_ID, ACCESS_TOKEN, METHOD) is None


@pytest.mark.parametrize("status", [401, 422, 503])
async def test_error_answers_raise_without_the_token(
    client: ConfirmhubClient, fake: FakeConfirmhub, status: int
) -> None:
    fake.fail_with = status

    for call in (client.register_waiting, client.confirmation_status):
        with pytest.raises(ConfirmhubClientError) as caught:
            await call(MEMBER_ID, ACCESS_TOKEN, METHOD)

        assert caught.value.status == status
        assert "refused" in str(caught.value)
        assert ACCESS_TOKEN not in str(caught.value)


async def test_an_answer_without_a_status_is_an_error(aiohttp_server: AiohttpServer) -> None:
    async def no_status(request: web.Request) -> web.Response:
        return web.Response(text="not json")

    app = web.Application()
    app.router.add_put("/api/v1/method-confirmations", no_status)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        client = ConfirmhubClient(session, str(server.make_url("/")), ADMIN_TOKEN)

        with pytest.raises(ConfirmhubClientError):
            await client.register_waiting(MEMBER_ID, ACCESS_TOKEN, METHOD)


@pytest.mark.parametrize(
    ("member_id", "method"), [("../admin", METHOD), (MEMBER_ID, "a/b"), (MEMBER_ID, "..")]
)
async def test_arguments_unsafe_in_a_path_fail_before_any_request(
    client: ConfirmhubClient, fake: FakeConfirmhub, member_id: str, method: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await client.confirmation_status(member_id, ACCESS_TOKEN, method)

    assert fake.requests == []
    assert ACCESS_TOKEN not in str(caught.value)


async def test_an_empty_token_fails_without_echoing_anything(
    client: ConfirmhubClient, fake: FakeConfirmhub
) -> None:
    with pytest.raises(ValidationError):
        await client.register_waiting(MEMBER_ID, "", METHOD)

    assert fake.requests == []


def test_repr_hides_the_admin_token() -> None:
    session: Any = None  # the constructor only stores it
    client = ConfirmhubClient(session, URL("http://confirmhub:8080"), ADMIN_TOKEN)

    assert ADMIN_TOKEN not in repr(client)

"""API keys with scopes: made once, stored hashed, enforced per operation, revoked everywhere."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.db.tables import api_keys
from confirmhub.redact import sha256_hex
from confirmhub.settings import Settings
from tests.conftest import ADMIN_TOKEN, LOG_SCAN, PORTAL_MEMBER_ID
from tests.fakes import FakeMcn
from tests.receiver.test_mcn_webhook import assert_problem

Client: TypeAlias = TestClient[web.Request, web.Application]
MakeClient: TypeAlias = Callable[[Settings], Awaitable[Client]]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
KEYS = "/api/v1/api-keys"
CALL = "da59bda0a1bb_117793"
PROVIDER = {
    "name": "twilio",
    "provider": "Twilio",
    "options": {"api_sid": "AC1", "api_secret": "s3cret", "from": "+15005550006"},
}
CONFIRMATION = {"member_id": PORTAL_MEMBER_ID, "token": "an-access-token", "method": "user.get"}
TOKEN_PATH = f"/api/v1/method-confirmations/{PORTAL_MEMBER_ID}/{sha256_hex('an-access-token')}"
# One request to each kind of operation a key may be refused: (method, path, JSON body).
PASSWORD_CALL_REQUESTS = [
    ("POST", "/api/v1/password-calls", {"phone_number": "421222202004"}),
    ("GET", f"/api/v1/password-calls/{CALL}", None),
    ("POST", f"/api/v1/password-calls/{CALL}/check", {"code": "1234"}),
    ("POST", f"/api/v1/password-calls/{CALL}/cancel", None),
]
METHOD_CONFIRMATION_REQUESTS = [
    ("PUT", "/api/v1/method-confirmations", CONFIRMATION),
    ("GET", f"{TOKEN_PATH}/user.get", None),
]
ADMIN_REQUESTS = [
    ("GET", "/api/v2/confirmations/providers", None),
    ("POST", "/api/v2/confirmations/providers", PROVIDER),
    ("GET", "/api/v2/confirmations/providers/types", None),
    ("DELETE", "/api/v2/confirmations/providers/1", None),
    ("GET", "/api/v2/confirmations/templates", None),
    ("POST", "/api/v2/confirmations/templates", {"name": "t", "template": "%CODE%"}),
    ("PUT", f"/api/v1/bitrix24/portals/{PORTAL_MEMBER_ID}", {"application_token": "x"}),
    ("DELETE", f"/api/v1/bitrix24/portals/{PORTAL_MEMBER_ID}", None),
    ("GET", KEYS, None),
    ("POST", KEYS, {"name": "escalation", "scopes": ["admin"]}),
    ("DELETE", f"{KEYS}/00000000-0000-4000-8000-000000000000", None),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def make_key(client: Client, *scopes: str, name: str = "app") -> dict[str, Any]:
    response = await client.post(KEYS, json={"name": name, "scopes": list(scopes)}, headers=ADMIN)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    LOG_SCAN.secrets.add(created["key"])  # from now on, no log line may carry it
    return created


async def send(client: Client, request: tuple[str, str, Any], key: str) -> Any:
    method, path, body = request
    return await client.request(method, path, json=body, headers=bearer(key))


async def test_a_key_is_shown_once_and_stored_only_as_a_hash(
    client: Client, engine: AsyncEngine
) -> None:
    created = await make_key(client, "calls", "bitrix24", "calls", name="signup app")
    assert set(created) == {"id", "name", "scopes", "key", "created_at"}
    assert created["name"] == "signup app"
    assert created["scopes"] == ["calls", "bitrix24"]
    key = created["key"]
    assert key.startswith("chk_")
    assert len(key) > 40

    listed = await (await client.get(KEYS, headers=ADMIN)).json()
    assert listed == [{k: v for k, v in created.items() if k != "key"}]
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.select(api_keys))).all()
    assert len(rows) == 1
    assert rows[0].key_sha256 == sha256_hex(key)
    assert key not in str(tuple(rows[0])), "the key itself is not stored"
    # The key works, and so does the bootstrap admin token, which is not listed.
    assert (await client.get(f"/api/v1/password-calls/{CALL}", headers=bearer(key))).status == 404


async def test_a_calls_key_places_reads_and_checks_calls_and_nothing_else(
    client: Client, fake_mcn: FakeMcn
) -> None:
    key = (await make_key(client, "calls"))["key"]
    placed = await client.post(
        "/api/v1/password-calls",
        json={"phone_number": "421222202004", "verification_code": "1234"},
        headers=bearer(key),
    )
    assert placed.status == 201, await placed.text()
    read = await client.get(f"/api/v1/password-calls/{CALL}", headers=bearer(key))
    assert read.status == 200
    checked = await client.post(
        f"/api/v1/password-calls/{CALL}/check", json={"code": "1234"}, headers=bearer(key)
    )
    assert (await checked.json())["valid"] is True
    for request in METHOD_CONFIRMATION_REQUESTS + ADMIN_REQUESTS:
        problem = await assert_problem(await send(client, request, key), 403)
        assert "'calls'" not in problem["detail"], "names the missing scope, not the held one"
    assert len(fake_mcn.requests) == 1
    listed = await (await client.get(KEYS, headers=ADMIN)).json()
    assert [item["name"] for item in listed] == ["app"], "the refused POST made no key"


async def test_a_calls_key_cancels_calls(client: Client, fake_mcn: FakeMcn) -> None:
    key = (await make_key(client, "calls"))["key"]
    placed = await client.post(
        "/api/v1/password-calls", json={"phone_number": "421222202004"}, headers=bearer(key)
    )
    assert placed.status == 201, await placed.text()
    canceled = await client.post(f"/api/v1/password-calls/{CALL}/cancel", headers=bearer(key))
    assert canceled.status == 200, await canceled.text()
    assert (await canceled.json())["status"] == "canceled"


async def test_a_bitrix24_key_manages_method_confirmations_and_nothing_else(
    client: Client, fake_mcn: FakeMcn
) -> None:
    key = (await make_key(client, "bitrix24"))["key"]
    registered = await client.put(
        "/api/v1/method-confirmations", json=CONFIRMATION, headers=bearer(key)
    )
    assert registered.status == 200, await registered.text()
    read = await client.get(f"{TOKEN_PATH}/user.get", headers=bearer(key))
    assert (await read.json())["status"] == "pending"
    for request in PASSWORD_CALL_REQUESTS + ADMIN_REQUESTS:
        await assert_problem(await send(client, request, key), 403)
    assert fake_mcn.requests == []


async def test_an_admin_key_may_do_everything(client: Client, fake_mcn: FakeMcn) -> None:
    key = (await make_key(client, "admin"))["key"]
    for request in [*PASSWORD_CALL_REQUESTS[:2], *METHOD_CONFIRMATION_REQUESTS, *ADMIN_REQUESTS]:
        response = await send(client, request, key)
        assert response.status < 400 or response.status == 404, (request, response.status)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer chk_not-a-key-we-made"},
        {"Authorization": "Bearer ключ"},
        {"Authorization": f"Bearer {'x' * 5000}"},
    ],
)
async def test_a_missing_or_unknown_key_is_401(client: Client, headers: dict[str, str]) -> None:
    for request in PASSWORD_CALL_REQUESTS + METHOD_CONFIRMATION_REQUESTS + ADMIN_REQUESTS:
        method, path, body = request
        response = await client.request(method, path, json=body, headers=headers)
        await assert_problem(response, 401)
    # An unknown /api/ path tells an anonymous client nothing, and a caller that it is 404.
    await assert_problem(await client.get("/api/v1/nothing-here", headers=headers), 401)
    await assert_problem(await client.get("/api/v1/nothing-here", headers=ADMIN), 404)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "app"},
        {"name": "app", "scopes": []},
        {"name": "app", "scopes": ["superuser"]},
        {"name": "app", "scopes": "calls"},
        {"name": "", "scopes": ["calls"]},
        {"name": "   ", "scopes": ["calls"]},
        {"name": "a\nb", "scopes": ["calls"]},
        {"name": "x" * 129, "scopes": ["calls"]},
        {"name": "app", "scopes": ["calls"], "key": "chk_chosen-by-the-client"},
    ],
)
async def test_an_invalid_key_request_is_422(client: Client, body: dict[str, Any]) -> None:
    await assert_problem(await client.post(KEYS, json=body, headers=ADMIN), 422)
    assert await (await client.get(KEYS, headers=ADMIN)).json() == []


async def test_deleting_an_unknown_key_is_404(client: Client) -> None:
    for key_id in ("00000000-0000-4000-8000-000000000000", "nope", "1"):
        await assert_problem(await client.delete(f"{KEYS}/{key_id}", headers=ADMIN), 404)


async def test_a_deleted_key_is_refused_by_every_receiver_within_two_seconds(
    make_client: MakeClient, settings: Settings
) -> None:
    first, second = await make_client(settings), await make_client(settings)
    created = await make_key(first, "calls")
    path = f"/api/v1/password-calls/{CALL}"
    # The second receiver has the key cached when it is deleted through the first.
    assert (await second.get(path, headers=bearer(created["key"]))).status == 404
    deleted = await first.delete(f"{KEYS}/{created['id']}", headers=ADMIN)
    assert deleted.status == 204
    deleted_at = time.monotonic()
    await assert_problem(await first.get(path, headers=bearer(created["key"])), 401)
    while (await second.get(path, headers=bearer(created["key"]))).status != 401:
        assert time.monotonic() - deleted_at < 2.0, "still accepted 2 s after the delete"
        await asyncio.sleep(0.05)
    assert await (await second.get(KEYS, headers=ADMIN)).json() == []


def cli(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONFIRMHUB_DATABASE_URL": settings.database_url.get_secret_value()}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "api-keys", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_command_line_makes_lists_and_deletes_keys(
    client: Client, settings: Settings
) -> None:
    made = await asyncio.to_thread(
        cli,
        "create",
        "--name",
        "ops app",
        "--scope",
        "bitrix24",
        "--scope",
        "calls",
        settings=settings,
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    LOG_SCAN.secrets.add(key)
    assert key.startswith("chk_")
    assert "\n" not in key, "the key alone on stdout"
    assert key not in made.stderr
    (listed,) = await (await client.get(KEYS, headers=ADMIN)).json()
    assert (listed["name"], listed["scopes"]) == ("ops app", ["bitrix24", "calls"])
    assert listed["id"] in made.stderr
    assert (await client.get(f"/api/v1/password-calls/{CALL}", headers=bearer(key))).status == 404

    shown = await asyncio.to_thread(cli, "list", settings=settings)
    assert shown.returncode == 0, shown.stderr
    assert listed["id"] in shown.stdout
    assert "ops app" in shown.stdout
    assert key not in shown.stdout

    gone = await asyncio.to_thread(cli, "delete", listed["id"], settings=settings)
    assert gone.returncode == 0, gone.stderr
    again = await asyncio.to_thread(cli, "delete", listed["id"], settings=settings)
    assert again.returncode == 1
    assert "no API key" in again.stderr
    deleted_at = time.monotonic()
    while (await client.get(KEYS, headers=bearer(key))).status != 401:
        assert time.monotonic() - deleted_at < 2.0, "still accepted 2 s after the delete"
        await asyncio.sleep(0.05)


async def test_a_bad_scope_on_the_command_line_is_refused(settings: Settings) -> None:
    result = await asyncio.to_thread(
        cli, "create", "--name", "x", "--scope", "root", settings=settings
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr

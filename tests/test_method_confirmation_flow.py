"""Bitrix24 method confirmations end to end, posted as Bitrix24 posts them."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import pytest
from aio_pika.abc import AbstractChannel, DeliveryMode
from aiohttp.test_utils import TestClient

from confirmhub.broker import BITRIX24_QUEUE
from confirmhub.redact import sha256_hex
from tests.conftest import ADMIN_TOKEN, PORTAL_APPLICATION_TOKEN, PORTAL_MEMBER_ID
from tests.helpers import EventTap, body_of, fixture_bytes, take_all
from tests.receiver.test_mcn_webhook import assert_problem

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ACCESS_TOKEN = "fkp963yuv1ggkfbs5z3f5hy8lilm0iw6"  # data[TOKEN] of the fixtures
METHOD = "voximplant.user.get"
GRANTED = fixture_bytes("bitrix24_onappmethodconfirm_granted.form")
DENIED = fixture_bytes("bitrix24_onappmethodconfirm_denied.form")
INSTALL = fixture_bytes("bitrix24_onappinstall.form")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


async def post_event(client: TestClient, body: bytes) -> Any:  # type: ignore[type-arg]
    """POST a form body the way Bitrix24 does."""
    return await client.post("/webhooks/bitrix24", data=body, headers=FORM)


def form(**fields: str) -> bytes:
    """A Bitrix24-style body with URL-encoded bracket keys."""
    return "&".join(f"{quote(key)}={quote(value)}" for key, value in fields.items()).encode()


def method_confirm_fields(**overrides: str) -> dict[str, str]:
    fields = {
        "event": "ONAPPMETHODCONFIRM",
        "data[TOKEN]": ACCESS_TOKEN,
        "data[METHOD]": METHOD,
        "data[CONFIRMED]": "1",
        "data[LANGUAGE_ID]": "en",
        "ts": "1478790852",
        "auth[domain]": "example.bitrix24.com",
        "auth[member_id]": PORTAL_MEMBER_ID,
        "auth[application_token]": PORTAL_APPLICATION_TOKEN,
    }
    fields.update(overrides)
    return {key: value for key, value in fields.items() if value != "<absent>"}


async def confirmation_state(client: TestClient) -> Any:  # type: ignore[type-arg]
    path = f"/api/v1/method-confirmations/{PORTAL_MEMBER_ID}/{sha256_hex(ACCESS_TOKEN)}/{METHOD}"
    return await client.get(path, headers=ADMIN)


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize(
    ("body", "decision"),
    [(GRANTED, "confirmed"), (DENIED, "denied")],
)
async def test_registered_token_gets_decided_once(
    client: TestClient,  # type: ignore[type-arg]
    events: EventTap,
    capfd: pytest.CaptureFixture[str],
    body: bytes,
    decision: str,
) -> None:
    registered = await client.put(
        "/api/v1/method-confirmations",
        json={"member_id": PORTAL_MEMBER_ID, "token": ACCESS_TOKEN, "method": METHOD},
        headers=ADMIN,
    )
    assert registered.status == 200
    assert (await registered.json())["status"] == "pending"
    assert ACCESS_TOKEN not in await registered.text()

    response = await post_event(client, body)
    assert response.status == 202, await response.text()
    message = await events.next()
    event = body_of(message)
    assert message.routing_key == event["type"] == f"method_confirmation.{decision}"
    assert message.message_id == event["event_id"]
    assert message.delivery_mode == DeliveryMode.PERSISTENT
    assert event["data"] == {
        "member_id": PORTAL_MEMBER_ID,
        "domain": "example.bitrix24.com",
        "method": METHOD,
        "token_sha256": sha256_hex(ACCESS_TOKEN),
        "language_id": "en",
        "source_ts": 1478790852,
    }
    assert ACCESS_TOKEN.encode() not in message.body

    state = await (await confirmation_state(client)).json()
    assert state["status"] == decision

    # A replay, or a contradicting decision for the same token, changes nothing.
    assert (await post_event(client, GRANTED)).status == 202
    assert (await post_event(client, DENIED)).status == 202
    await events.assert_quiet(1.0)
    assert (await (await confirmation_state(client)).json())["status"] == decision

    logged = capfd.readouterr().err
    assert "method_confirmation.decision_ignored" in logged
    for secret in (ACCESS_TOKEN, PORTAL_APPLICATION_TOKEN, ADMIN_TOKEN):
        assert secret not in logged


@pytest.mark.usefixtures("worker")
async def test_unregistered_token_is_decided_directly(
    client: TestClient,  # type: ignore[type-arg]
    events: EventTap,
) -> None:
    assert (await confirmation_state(client)).status == 404
    assert (await post_event(client, GRANTED)).status == 202
    assert body_of(await events.next())["type"] == "method_confirmation.confirmed"
    assert (await (await confirmation_state(client)).json())["status"] == "confirmed"


@pytest.mark.usefixtures("worker")
async def test_json_body_works_like_the_form(
    client: TestClient,  # type: ignore[type-arg]
    events: EventTap,
) -> None:
    document = {
        "event": "ONAPPMETHODCONFIRM",
        "data": {"TOKEN": ACCESS_TOKEN, "METHOD": METHOD, "CONFIRMED": "0"},
        "ts": "1478790852",
        "auth": {
            "domain": "example.bitrix24.com",
            "server_andpoint": "https://oauth.bitrix.info/rest/",
            "member_id": PORTAL_MEMBER_ID,
            "application_token": PORTAL_APPLICATION_TOKEN,
            "expires": "1478794452",
        },
    }
    response = await client.post("/webhooks/bitrix24", json=document)
    assert response.status == 202, await response.text()
    event = body_of(await events.next())
    assert event["type"] == "method_confirmation.denied"
    assert event["data"]["language_id"] is None


async def test_install_and_other_events_are_ignored(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
) -> None:
    response = await post_event(client, INSTALL)
    assert response.status == 200
    assert await response.json() == {"ignored": True}
    other = form(**method_confirm_fields(event="ONCRMLEADADD"))
    response = await post_event(client, other)
    assert response.status == 200
    assert await response.json() == {"ignored": True}
    assert await take_all(channel, BITRIX24_QUEUE) == []


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        (method_confirm_fields(**{"auth[application_token]": "0" * 32}), 401),
        (method_confirm_fields(**{"auth[member_id]": "f" * 32}), 401),
        (method_confirm_fields(**{"auth[application_token]": "<absent>"}), 401),
        (method_confirm_fields(**{"auth[member_id]": "<absent>"}), 401),
        (method_confirm_fields(**{"data[TOKEN]": "<absent>"}), 422),
        (method_confirm_fields(**{"data[TOKEN]": ""}), 422),
        (method_confirm_fields(**{"data[CONFIRMED]": "2"}), 422),
        (method_confirm_fields(**{"data[CONFIRMED]": "yes"}), 422),
        (method_confirm_fields(**{"data[METHOD]": "<absent>"}), 422),
        (method_confirm_fields(**{"ts": "yesterday"}), 422),
        (method_confirm_fields(**{"data[a][b][c][d][e][f][g]": "deep"}), 422),
    ],
)
async def test_refused_events_publish_nothing(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    capfd: pytest.CaptureFixture[str],
    fields: dict[str, str],
    status: int,
) -> None:
    await assert_problem(await post_event(client, form(**fields)), status)
    assert await take_all(channel, BITRIX24_QUEUE) == []
    logged = capfd.readouterr().err
    assert ACCESS_TOKEN not in logged
    assert PORTAL_APPLICATION_TOKEN not in logged


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (GRANTED + b"&pad=" + b"x" * 70 * 1024, "application/x-www-form-urlencoded", 413),
        (b"&".join(b"k%d=v" % i for i in range(600)), "application/x-www-form-urlencoded", 413),
        (GRANTED, "text/plain", 415),
        (b'{"event": ', "application/json", 400),
        (b"[1, 2]", "application/json", 422),
        (b"%ff%fe=1", "application/x-www-form-urlencoded", 400),
    ],
)
async def test_malformed_bodies_are_refused(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    body: bytes,
    content_type: str,
    status: int,
) -> None:
    response = await client.post(
        "/webhooks/bitrix24", data=body, headers={"Content-Type": content_type}
    )
    await assert_problem(response, status)
    assert await take_all(channel, BITRIX24_QUEUE) == []


async def test_admin_rotates_and_removes_tokens_without_restart(
    make_client: Any,
    settings: Any,
    channel: AbstractChannel,
) -> None:
    # Two receivers on one database, as when scaled out; the second reads tokens on every
    # event (the cache is tested below).
    first = await make_client(settings.model_copy(update={"bitrix24_application_tokens": {}}))
    second = await make_client(
        settings.model_copy(
            update={"bitrix24_application_tokens": {}, "bitrix24_token_cache_seconds": 0}
        )
    )
    portal = "/api/v1/bitrix24/portals/0123456789abcdef"
    fields = method_confirm_fields(**{"auth[member_id]": "0123456789abcdef"})

    await assert_problem(await post_event(second, form(**fields)), 401)
    added = await first.put(portal, json={"application_token": "first-token"}, headers=ADMIN)
    assert await added.json() == {"member_id": "0123456789abcdef", "created": True}
    fields["auth[application_token]"] = "first-token"
    assert (await post_event(second, form(**fields))).status == 202

    rotated = await first.put(portal, json={"application_token": "second-token"}, headers=ADMIN)
    assert (await rotated.json())["created"] is False
    await assert_problem(await post_event(second, form(**fields)), 401)
    fields["auth[application_token]"] = "second-token"
    assert (await post_event(second, form(**fields))).status == 202

    assert (await first.delete(portal, headers=ADMIN)).status == 204
    await assert_problem(await post_event(second, form(**fields)), 401)
    await assert_problem(await first.delete(portal, headers=ADMIN), 404)
    assert len(await take_all(channel, BITRIX24_QUEUE)) == 2


async def test_cached_tokens_follow_a_rotation_here_at_once_elsewhere_within_the_ttl(
    make_client: Any,
    settings: Any,
    channel: AbstractChannel,
) -> None:
    ttl = 0.5
    update = {"bitrix24_application_tokens": {}, "bitrix24_token_cache_seconds": ttl}
    first = await make_client(settings.model_copy(update=update))
    second = await make_client(settings.model_copy(update=update))
    portal = "/api/v1/bitrix24/portals/0123456789abcdef"
    fields = method_confirm_fields(**{"auth[member_id]": "0123456789abcdef"})
    fields["auth[application_token]"] = "old-token"
    assert (await first.put(portal, json={"application_token": "old-token"}, headers=ADMIN)).ok
    for client in (first, second):  # both now hold the portal's token in their cache
        assert (await post_event(client, form(**fields))).status == 202

    # Rotated through the first receiver: refused there at once…
    assert (await first.put(portal, json={"application_token": "new-token"}, headers=ADMIN)).ok
    await assert_problem(await post_event(first, form(**fields)), 401)
    # …and on the second once its cached entry has expired, without a restart.
    await asyncio.sleep(ttl + 0.1)
    await assert_problem(await post_event(second, form(**fields)), 401)
    fields["auth[application_token]"] = "new-token"
    assert (await post_event(second, form(**fields))).status == 202

    # Removal is the same: at once here, within the TTL there.
    assert (await second.delete(portal, headers=ADMIN)).status == 204
    await assert_problem(await post_event(second, form(**fields)), 401)
    await asyncio.sleep(ttl + 0.1)
    await assert_problem(await post_event(first, form(**fields)), 401)
    assert len(await take_all(channel, BITRIX24_QUEUE)) == 3


async def test_trusted_install_registers_a_new_portal_once(
    make_client: Any,
    settings: Any,
    channel: AbstractChannel,
) -> None:
    client = await make_client(
        settings.model_copy(
            update={"bitrix24_application_tokens": {}, "bitrix24_trust_install": True}
        )
    )
    response = await post_event(client, INSTALL)
    assert response.status == 200
    assert (await response.json())["registered"] is True
    assert (await post_event(client, GRANTED)).status == 202

    hijack = INSTALL.replace(PORTAL_APPLICATION_TOKEN.encode(), b"f" * 32)
    await assert_problem(await post_event(client, hijack), 401)
    assert (await post_event(client, GRANTED)).status == 202, "the first token still stands"
    assert len(await take_all(channel, BITRIX24_QUEUE)) == 2


async def test_untrusted_install_registers_nothing(
    make_client: Any,
    settings: Any,
) -> None:
    client = await make_client(settings.model_copy(update={"bitrix24_application_tokens": {}}))
    await assert_problem(await post_event(client, INSTALL), 401)
    await assert_problem(await post_event(client, GRANTED), 401)


@pytest.mark.usefixtures("worker")
async def test_client_helper_against_the_running_service(
    client: TestClient,  # type: ignore[type-arg]
    events: EventTap,
) -> None:
    import aiohttp

    from confirmhub.client import ConfirmhubClient, classify_bitrix24_response

    waiting = {"error": "METHOD_CONFIRM_WAITING", "error_description": "Waiting for confirmation"}
    assert classify_bitrix24_response(401, waiting) == "waiting"
    async with aiohttp.ClientSession() as session:
        helper = ConfirmhubClient(session, str(client.make_url("")), ADMIN_TOKEN)
        assert await helper.confirmation_status(PORTAL_MEMBER_ID, ACCESS_TOKEN, METHOD) is None
        assert await helper.register_waiting(PORTAL_MEMBER_ID, ACCESS_TOKEN, METHOD) == "pending"
        assert (await post_event(client, GRANTED)).status == 202
        await events.next()
        status = await helper.confirmation_status(PORTAL_MEMBER_ID, ACCESS_TOKEN, METHOD)
        assert status == "confirmed"

"""What the SMS tests share: serving a fake, building its sender, checking for leaks, and
driving the fallback through the API: providers, templates, a call and its CDR."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any, TypeVar

import aiohttp
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from pytest_aiohttp import AiohttpServer

from confirmhub.sms import SmsError, SmsMessage, SmsSender, build_sender
from tests.conftest import ADMIN_TOKEN, WEBHOOK_SECRET
from tests.fakes import FakeMcn
from tests.sms_fakes import SMSAERO_API_KEY, TWILIO_AUTH_TOKEN, VONAGE_API_SECRET, FakeProvider

CODE = "4821"
TO = "+79161234567"
MESSAGE = SmsMessage(to=TO, body=f"Код подтверждения: {CODE}")
SECRETS = (TWILIO_AUTH_TOKEN, VONAGE_API_SECRET, SMSAERO_API_KEY)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALL = "5a5a00000001_117793"

Fake = TypeVar("Fake", bound=FakeProvider)


async def serve(aiohttp_server: AiohttpServer, fake: Fake) -> Fake:
    """Serve ``fake`` on loopback and point its ``url`` at it."""
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


def sender_for(
    fake: FakeProvider,
    session: aiohttp.ClientSession,
    overrides: Mapping[str, Any] | None = None,
    *,
    timeout: float = 3.0,
) -> SmsSender:
    """A sender for ``fake`` built the way the worker builds one, options overridden."""
    options = {**fake.sender_options(), **(overrides or {})}
    return build_sender(fake.provider_type, options, session, timeout=timeout)


def assert_safe(error: SmsError, *also: str) -> None:
    """The error's text carries no secret, number, message body or code."""
    text = f"{error.reason} | {error}"
    for leak in (*SECRETS, *also, TO, TO[1:], MESSAGE.body, CODE):
        assert leak not in text


def closed_port_url() -> str:
    """A loopback URL nothing listens on, so connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def add_provider(
    client: TestClient,  # type: ignore[type-arg]
    fake: FakeProvider,
    *,
    name: str,
    priority: int,
    enabled: bool = True,
) -> None:
    """Configure ``fake`` as a provider through the API."""
    response = await client.post(
        "/api/v2/confirmations/providers",
        json={
            "name": name,
            "caption": name,
            "provider": fake.provider_type,
            "isEnabled": enabled,
            "priority": priority,
            "options": {
                key: value.get_secret_value() if isinstance(value, SecretStr) else value
                for key, value in fake.sender_options().items()
            },
        },
        headers=ADMIN,
    )
    assert response.status == 201, await response.text()


async def add_template(
    client: TestClient,  # type: ignore[type-arg]
    *,
    priority: int,
    text: str,
    enabled: bool = True,
) -> None:
    """Add a template (with a ru_RU variant) through the API."""
    response = await client.post(
        "/api/v2/confirmations/templates",
        json={
            "name": f"t{priority}",
            "caption": "code",
            "template": text,
            "isEnabled": enabled,
            "priority": priority,
            "resources": [{"key": "template", "locale": "ru_RU", "value": "Код: %CODE%"}],
        },
        headers=ADMIN,
    )
    assert response.status == 201, await response.text()


async def place_call(client: TestClient, fake_mcn: FakeMcn, *, locale: str | None = None) -> None:  # type: ignore[type-arg]
    """Place the password call ``CALL`` with the code 1234."""
    fake_mcn.next_uuid = CALL
    body: dict[str, Any] = {"phone_number": "421222202004", "verification_code": "1234"}
    if locale:
        body["locale"] = locale
    response = await client.post("/api/v1/password-calls", json=body, headers=ADMIN)
    assert response.status == 201, await response.text()


async def post_cdr(client: TestClient, q931: int, final_status: str = "CANCEL") -> None:  # type: ignore[type-arg]
    """Post the CDR of ``CALL``."""
    response = await client.post(
        "/webhooks/mcn/password-call",
        json={"verification_call_uuid": CALL, "q931_status": q931, "final_status": final_status},
        headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
    )
    assert response.status == 202

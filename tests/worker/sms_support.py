"""What the SMS adapter tests share: serving a fake, building its sender, checking for leaks."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any, TypeVar

import aiohttp
from pytest_aiohttp import AiohttpServer

from tests.sms_fakes import SMSAERO_API_KEY, TWILIO_AUTH_TOKEN, VONAGE_API_SECRET, FakeProvider
from worker.sms import SmsError, SmsMessage, SmsSender, build_sender

CODE = "4821"
TO = "+79161234567"
MESSAGE = SmsMessage(to=TO, body=f"Код подтверждения: {CODE}")
SECRETS = (TWILIO_AUTH_TOKEN, VONAGE_API_SECRET, SMSAERO_API_KEY)

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

"""Secrets key rotation: a key list reads what the old key stored; ``secrets rotate`` moves
every stored secret to the new key, so that the old one can go."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import pytest
import sqlalchemy as sa
from aio_pika.abc import AbstractChannel
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr, ValidationError
from pytest_aiohttp import AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.db.tables import confirmation_providers, password_calls
from confirmhub.settings import Settings
from tests.conftest import NEXT_SECRETS_KEY, SECRETS_KEY, WEBHOOK_SECRET
from tests.fakes import FakeMcn
from tests.helpers import EventTap, body_of
from tests.sms_fakes import FakeTwilio
from tests.sms_support import ADMIN, add_provider, add_template, serve
from worker.app import running_worker

Client: TypeAlias = TestClient[web.Request, web.Application]
MakeClient: TypeAlias = Callable[[Settings], Awaitable[Client]]
OLD, NEW = SECRETS_KEY, NEXT_SECRETS_KEY


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


def with_keys(settings: Settings, keys: str) -> Settings:
    return settings.model_copy(update={"secrets_key": SecretStr(keys)})


async def place_call(client: Client, fake_mcn: FakeMcn, uuid: str, code: str) -> None:
    fake_mcn.next_uuid = uuid
    # A number per code: two calls to one number would meet the one-live-call rule.
    body = {"phone_number": f"42122220{code}", "verification_code": code}
    response = await client.post("/api/v1/password-calls", json=body, headers=ADMIN)
    assert response.status == 201, await response.text()


async def sms_after_busy_call(
    client: Client, settings: Settings, taps: EventTap, twilio: FakeTwilio, uuid: str
) -> str:
    """Let a worker with ``settings`` handle a busy CDR; the text of the SMS it sent."""
    async with running_worker(settings):
        response = await client.post(
            "/webhooks/mcn/password-call",
            json={"verification_call_uuid": uuid, "q931_status": 17, "final_status": "CANCEL"},
            headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
        )
        assert response.status == 202
        event = body_of(await taps.next())
    assert event["type"] == "password_call.sms_sent", event
    return str(twilio.requests[-1].fields["Body"])


def rotate(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CONFIRMHUB_DATABASE_URL": settings.database_url.get_secret_value(),
        "CONFIRMHUB_SECRETS_KEY": f"{NEW},{OLD}",
    }
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "secrets", "rotate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def stored_secrets(engine: AsyncEngine) -> list[bytes]:
    async with engine.connect() as connection:
        providers = await connection.scalars(
            sa.select(confirmation_providers.c.secrets_encrypted).where(
                confirmation_providers.c.secrets_encrypted.is_not(None)
            )
        )
        codes = await connection.scalars(
            sa.select(password_calls.c.code_encrypted).where(
                password_calls.c.code_encrypted.is_not(None)
            )
        )
        return [*providers, *codes]


async def test_a_key_list_reads_old_secrets_and_rotate_moves_them_to_the_new_key(
    make_client: MakeClient,
    settings: Settings,
    engine: AsyncEngine,
    fake_mcn: FakeMcn,
    channel: AbstractChannel,
    aiohttp_server: AiohttpServer,
) -> None:
    twilio = await serve(aiohttp_server, FakeTwilio())
    taps = await EventTap.bind(channel, "password_call.sms_sent", "password_call.sms_failed")
    under_old = await make_client(with_keys(settings, OLD))
    await add_provider(under_old, twilio, name="twilio", priority=1)
    await add_template(under_old, priority=1, text="Code %CODE%")
    await place_call(under_old, fake_mcn, "01d0000000a1_117793", "1111")
    await place_call(under_old, fake_mcn, "01d0000000a2_117793", "2222")
    assert len(await stored_secrets(engine)) == 3

    # NEW first, OLD after: what OLD stored still reads.
    both = with_keys(settings, f"{NEW},{OLD}")
    text = await sms_after_busy_call(
        await make_client(both), both, taps, twilio, "01d0000000a1_117793"
    )
    assert text == "Code 1111"

    rotated = await asyncio.to_thread(rotate, settings)
    assert rotated.returncode == 0, rotated.stderr
    assert "provider secrets: 1 re-encrypted" in rotated.stdout
    assert "verification codes: 2 re-encrypted" in rotated.stdout
    again = await asyncio.to_thread(rotate, settings)
    assert again.returncode == 0, again.stderr
    assert "provider secrets: 0 re-encrypted with the first key, 1 already" in again.stdout
    for value in (OLD, NEW):
        assert value not in rotated.stdout + rotated.stderr + again.stdout + again.stderr

    # Every stored secret now reads with NEW alone, and no longer with OLD.
    for stored in await stored_secrets(engine):
        Fernet(NEW.encode()).decrypt(stored)
        with pytest.raises(InvalidToken):
            Fernet(OLD.encode()).decrypt(stored)
    only_new = with_keys(settings, NEW)
    text = await sms_after_busy_call(
        await make_client(only_new), only_new, taps, twilio, "01d0000000a2_117793"
    )
    assert text == "Code 2222"
    await taps.close()


async def test_rotate_reports_what_no_key_decrypts(
    make_client: MakeClient, settings: Settings, fake_mcn: FakeMcn
) -> None:
    stranger = Fernet.generate_key().decode()
    client = await make_client(with_keys(settings, stranger))
    await place_call(client, fake_mcn, "5712a0000001_117793", "3333")
    result = await asyncio.to_thread(rotate, settings)
    assert result.returncode == 1
    assert "1 stored secret(s) decrypt with none of the keys" in result.stderr
    assert stranger not in result.stdout + result.stderr


@pytest.mark.parametrize("value", [f"{NEW},not-a-key", ",", f"{NEW},{OLD[:-2]}"])
def test_a_key_list_with_a_bad_key_is_refused_without_showing_it(value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(secrets_key=SecretStr(value))
    assert "comma-separated list" in str(refused.value)
    assert NEW not in str(refused.value)


def test_spaces_around_the_keys_of_a_list_are_ignored() -> None:
    settings = Settings(secrets_key=SecretStr(f" {NEW} , {OLD} "))
    assert settings.secrets_key is not None

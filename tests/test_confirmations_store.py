"""What the SMS sender reads: enabled providers in order, the best template, its text."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.crypto import SecretsBox
from confirmhub.db import confirmations as db

BOX = SecretsBox(SecretStr(Fernet.generate_key().decode()))
NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


def provider(name: str, *, priority: int, enabled: bool = True) -> db.ProviderFields:
    """A Twilio provider whose secret is its name backwards."""
    return db.ProviderFields(
        name=name,
        caption=name,
        provider="Twilio",
        is_enabled=enabled,
        priority=priority,
        options={"api_sid": f"sid-{name}", "from": "+995595854561"},
        secrets_encrypted=db.encrypt_secrets(BOX, {"api_secret": name[::-1]}),
        resources=[],
    )


def template(text: str, *, priority: int, enabled: bool = True) -> db.TemplateFields:
    """A template with a Russian variant."""
    resources = [{"key": "template", "locale": "ru_RU", "value": f"ru {text}"}]
    return db.TemplateFields(
        name=text,
        caption=text,
        template=text,
        is_enabled=enabled,
        priority=priority,
        resources=resources,
    )


async def test_enabled_providers_in_priority_order_with_secrets(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        ids = {
            fields.name: (await db.insert_provider(connection, fields, now=NOW)).id
            for fields in (
                provider("third", priority=2),
                provider("off", priority=0, enabled=False),
                provider("first", priority=1),
                provider("second", priority=1),
            )
        }
    async with engine.connect() as connection:
        configs = await db.enabled_providers(connection, BOX)
        assert [config.name for config in configs] == ["first", "second", "third"]
        assert configs[0] == db.SmsProviderConfig(
            id=ids["first"],
            name="first",
            provider="Twilio",
            priority=1,
            options={"api_sid": "sid-first", "from": "+995595854561", "api_secret": "tsrif"},
        )


@pytest.mark.parametrize("key", [None, Fernet.generate_key().decode()], ids=["no-key", "other-key"])
async def test_a_provider_whose_secrets_do_not_decrypt_is_unusable_not_fatal(
    engine: AsyncEngine, key: str | None
) -> None:
    other = SecretsBox(None if key is None else SecretStr(key))
    async with engine.begin() as connection:
        await db.insert_provider(connection, provider("locked", priority=1), now=NOW)
        readable = dataclasses.replace(
            provider("readable", priority=2),
            secrets_encrypted=None
            if key is None
            else db.encrypt_secrets(other, {"api_secret": "x"}),
        )
        await db.insert_provider(connection, readable, now=NOW)
    async with engine.connect() as connection:
        locked, usable = await db.enabled_providers(connection, other)
    assert locked.unusable is not None
    assert "decrypt" in locked.unusable or "CONFIRMHUB_SECRETS_KEY" in locked.unusable
    # Only the non-secret options: nothing of the stored secret.
    assert locked.options == {"api_sid": "sid-locked", "from": "+995595854561"}
    assert usable.unusable is None


async def test_best_template_is_the_enabled_one_with_the_lowest_priority(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        assert await db.best_template(connection) is None
    async with engine.begin() as connection:
        ids = [
            (await db.insert_template(connection, fields, now=NOW)).id
            for fields in (
                template("later %CODE%", priority=5),
                template("off %CODE%", priority=0, enabled=False),
                template("best %CODE%", priority=1),
                template("tie %CODE%", priority=1),
            )
        ]
    async with engine.connect() as connection:
        best = await db.best_template(connection)
    assert best is not None
    assert (best.id, best.template) == (ids[2], "best %CODE%")


SMS = db.SmsTemplate(
    id=1,
    template="The verification code is %CODE%",
    resources=[
        {"key": "caption", "locale": "ru_RU", "value": "not a template"},
        {"key": "template", "locale": "ru_RU", "value": "Код подтверждения: %CODE%"},
        {"key": "template", "locale": "pt_BR", "value": "Código: %CODE%"},
        {"key": "template", "locale": "pt_PT", "value": "Código PT: %CODE%"},
    ],
)


@pytest.mark.parametrize(
    ("locale", "text"),
    [
        (None, "The verification code is 4821"),
        ("", "The verification code is 4821"),
        ("ru_RU", "Код подтверждения: 4821"),
        ("ru", "Код подтверждения: 4821"),
        ("ru-ru", "Код подтверждения: 4821"),
        ("ru_UA", "Код подтверждения: 4821"),
        ("pt_PT", "Código PT: 4821"),
        ("pt", "Código: 4821"),
        ("en_US", "The verification code is 4821"),
    ],
)
def test_render_template(locale: str | None, text: str) -> None:
    assert db.render_template(SMS, locale=locale, code="4821") == text

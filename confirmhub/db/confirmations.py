"""Confirmation providers and templates: admin CRUD and the worker's reads.

Secret provider options are stored only as ``secrets_encrypted`` (a Fernet token of their
JSON); the admin API never decrypts them to answer a read. The worker reads them through
``enabled_providers``, which merges the decrypted secrets back into the options.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from confirmhub.crypto import SecretsBox, SecretsKeyMissing
from confirmhub.db.crud import (
    ListQuery,
    Page,
    delete_row,
    insert_row,
    page_rows,
    select_row,
    update_row,
)
from confirmhub.db.tables import confirmation_providers, confirmation_templates
from schemas.confirmations import CODE_PLACEHOLDER, TEMPLATE_RESOURCE_KEY, localized_value


@dataclass(frozen=True, slots=True)
class ProviderFields:
    """What an admin sets on a provider; ``options`` holds only the non-secret ones (and
    ``********`` in place of each optional secret that is stored)."""

    name: str
    caption: str
    provider: str
    is_enabled: bool
    priority: int
    options: dict[str, str]
    secrets_encrypted: bytes | None
    resources: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class TemplateFields:
    """What an admin sets on a template."""

    name: str
    caption: str
    template: str
    is_enabled: bool
    priority: int
    resources: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """A stored provider."""

    id: int
    fields: ProviderFields
    create_time: dt.datetime
    update_time: dt.datetime


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    """A stored template."""

    id: int
    fields: TemplateFields
    create_time: dt.datetime
    update_time: dt.datetime


@dataclass(frozen=True)
class SmsProviderConfig:
    """An enabled provider as the SMS sender needs it: every option, secrets decrypted.

    ``unusable`` says why it cannot send (its secrets do not decrypt); ``options`` then hold
    only the non-secret ones.
    """

    id: int
    name: str
    provider: str
    priority: int
    options: dict[str, str]
    unusable: str | None = None


@dataclass(frozen=True)
class SmsTemplate:
    """The template an SMS is rendered from."""

    id: int
    template: str
    resources: list[dict[str, str]]


def _provider_columns(fields: ProviderFields) -> dict[str, Any]:
    columns = asdict(fields)
    columns["options_json"] = orjson.dumps(columns.pop("options")).decode()
    columns["resources_json"] = orjson.dumps(columns.pop("resources")).decode()
    return columns


def _template_columns(fields: TemplateFields) -> dict[str, Any]:
    columns = asdict(fields)
    columns["resources_json"] = orjson.dumps(columns.pop("resources")).decode()
    return columns


def _provider_record(row: sa.Row[Any]) -> ProviderRecord:
    values = dict(row._mapping)
    stamps = {key: values.pop(key) for key in ("id", "create_time", "update_time")}
    values["options"] = orjson.loads(values.pop("options_json"))
    values["resources"] = orjson.loads(values.pop("resources_json"))
    return ProviderRecord(fields=ProviderFields(**values), **stamps)


def _template_record(row: sa.Row[Any]) -> TemplateRecord:
    values = dict(row._mapping)
    stamps = {key: values.pop(key) for key in ("id", "create_time", "update_time")}
    values["resources"] = orjson.loads(values.pop("resources_json"))
    return TemplateRecord(fields=TemplateFields(**values), **stamps)


async def insert_provider(
    connection: AsyncConnection, fields: ProviderFields, *, now: dt.datetime
) -> ProviderRecord:
    """Store a new provider."""
    row = await insert_row(connection, confirmation_providers, _provider_columns(fields), now)
    return _provider_record(row)


async def select_provider(
    connection: AsyncConnection, provider_id: int, *, for_update: bool = False
) -> ProviderRecord | None:
    """A stored provider, or None; ``for_update`` locks it for a read-modify-write."""
    row = await select_row(connection, confirmation_providers, provider_id, for_update=for_update)
    return None if row is None else _provider_record(row)


async def update_provider(
    connection: AsyncConnection, provider_id: int, fields: ProviderFields, *, now: dt.datetime
) -> ProviderRecord | None:
    """Replace a provider's fields; None if it is gone."""
    columns = _provider_columns(fields)
    row = await update_row(connection, confirmation_providers, provider_id, columns, now)
    return None if row is None else _provider_record(row)


async def delete_provider(connection: AsyncConnection, provider_id: int) -> bool:
    """Delete a provider; True if it existed."""
    return await delete_row(connection, confirmation_providers, provider_id)


async def list_providers(connection: AsyncConnection, query: ListQuery) -> Page[ProviderRecord]:
    """A page of providers matching the filters."""
    rows, total = await page_rows(connection, confirmation_providers, query)
    return Page(items=[_provider_record(row) for row in rows], total=total)


async def insert_template(
    connection: AsyncConnection, fields: TemplateFields, *, now: dt.datetime
) -> TemplateRecord:
    """Store a new template."""
    row = await insert_row(connection, confirmation_templates, _template_columns(fields), now)
    return _template_record(row)


async def select_template(
    connection: AsyncConnection, template_id: int, *, for_update: bool = False
) -> TemplateRecord | None:
    """A stored template, or None; ``for_update`` locks it for a read-modify-write."""
    row = await select_row(connection, confirmation_templates, template_id, for_update=for_update)
    return None if row is None else _template_record(row)


async def update_template(
    connection: AsyncConnection, template_id: int, fields: TemplateFields, *, now: dt.datetime
) -> TemplateRecord | None:
    """Replace a template's fields; None if it is gone."""
    columns = _template_columns(fields)
    row = await update_row(connection, confirmation_templates, template_id, columns, now)
    return None if row is None else _template_record(row)


async def delete_template(connection: AsyncConnection, template_id: int) -> bool:
    """Delete a template; True if it existed."""
    return await delete_row(connection, confirmation_templates, template_id)


async def list_templates(connection: AsyncConnection, query: ListQuery) -> Page[TemplateRecord]:
    """A page of templates matching the filters."""
    rows, total = await page_rows(connection, confirmation_templates, query)
    return Page(items=[_template_record(row) for row in rows], total=total)


def decrypt_secrets(box: SecretsBox, secrets_encrypted: bytes | None) -> dict[str, str]:
    """The secret options of a provider; SecretsKeyMissing without the right key."""
    if secrets_encrypted is None:
        return {}
    secrets: dict[str, str] = orjson.loads(box.decrypt(secrets_encrypted))
    return secrets


def encrypt_secrets(box: SecretsBox, secrets: Mapping[str, str]) -> bytes | None:
    """The stored form of secret options (None for none); SecretsKeyMissing without a key."""
    return box.encrypt(orjson.dumps(dict(secrets)).decode()) if secrets else None


async def enabled_providers(
    connection: AsyncConnection, box: SecretsBox
) -> list[SmsProviderConfig]:
    """Enabled providers in the order to try them: priority ascending (1 first), then id.

    A provider whose secrets do not decrypt (no key, or stored under another one) comes back
    ``unusable`` rather than failing the whole list, so it cannot hold up the others.
    """
    table = confirmation_providers
    rows = await connection.execute(
        table.select().where(table.c.is_enabled.is_(True)).order_by(table.c.priority, table.c.id)
    )
    return [_sms_config(_provider_record(row), box) for row in rows.all()]


async def provider_config(
    connection: AsyncConnection, box: SecretsBox, provider_id: int
) -> SmsProviderConfig | None:
    """One provider as the SMS code needs it (enabled or not), secrets decrypted; None if
    there is no such provider."""
    record = await select_provider(connection, provider_id)
    return None if record is None else _sms_config(record, box)


def _sms_config(record: ProviderRecord, box: SecretsBox) -> SmsProviderConfig:
    options = dict(record.fields.options)
    unusable = None
    try:
        options.update(decrypt_secrets(box, record.fields.secrets_encrypted))
    except SecretsKeyMissing as exc:
        unusable = str(exc)
    return SmsProviderConfig(
        id=record.id,
        name=record.fields.name,
        provider=record.fields.provider,
        priority=record.fields.priority,
        options=options,
        unusable=unusable,
    )


async def best_template(connection: AsyncConnection) -> SmsTemplate | None:
    """The enabled template with the lowest priority number (then lowest id), or None."""
    table = confirmation_templates
    row = (
        await connection.execute(
            table.select()
            .where(table.c.is_enabled.is_(True))
            .order_by(table.c.priority, table.c.id)
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    record = _template_record(row)
    return SmsTemplate(
        id=record.id, template=record.fields.template, resources=record.fields.resources
    )


def render_template(template: SmsTemplate, *, locale: str | None, code: str) -> str:
    """The SMS text: the locale's ``template`` resource (exact, then language), else the default."""
    text = None
    if locale:
        text = localized_value(template.resources, key=TEMPLATE_RESOURCE_KEY, locale=locale)
    return (text or template.template).replace(CODE_PLACEHOLDER, code)

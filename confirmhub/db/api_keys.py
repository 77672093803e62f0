"""API keys: made once, stored only as a hash, found by the hash of what a client presents."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from confirmhub.db.tables import api_keys
from confirmhub.redact import sha256_hex
from schemas.api_keys import SCOPES, Scope

# A recognizable prefix lets secret scanners and people tell a confirmhub key at a glance.
KEY_PREFIX = "chk_"
# What a presented key may look like before it is worth a hash and a lookup.
_MAX_KEY_LENGTH = 256


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored key: everything but the key, which is not kept."""

    id: str
    name: str
    scopes: tuple[Scope, ...]
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key just made: its record and the key itself, to be shown once."""

    record: ApiKeyRecord
    key: str


def key_sha256(key: str) -> str | None:
    """The stored form of a presented key; None for what no key of ours can be."""
    if not key.isascii() or not key.isprintable() or len(key) > _MAX_KEY_LENGTH:
        return None
    return sha256_hex(key)


def _record(row: sa.Row[Any]) -> ApiKeyRecord:
    scopes = tuple(cast(Scope, scope) for scope in row.scopes.split(",") if scope in SCOPES)
    return ApiKeyRecord(id=row.id, name=row.name, scopes=scopes, created_at=row.created_at)


async def create_api_key(
    connection: AsyncConnection, *, name: str, scopes: Sequence[Scope], now: dt.datetime
) -> NewApiKey:
    """Make a key with 256 random bits and store its hash."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        id=str(uuid.uuid4()), name=name, scopes=tuple(dict.fromkeys(scopes)), created_at=now
    )
    await connection.execute(
        api_keys.insert().values(
            id=record.id,
            name=record.name,
            scopes=",".join(record.scopes),
            key_sha256=sha256_hex(key),
            created_at=now,
        )
    )
    return NewApiKey(record=record, key=key)


async def list_api_keys(connection: AsyncConnection) -> list[ApiKeyRecord]:
    """Every stored key, oldest first."""
    rows = await connection.execute(
        api_keys.select().order_by(api_keys.c.created_at, api_keys.c.id)
    )
    return [_record(row) for row in rows]


async def find_api_key(connection: AsyncConnection, digest: str) -> ApiKeyRecord | None:
    """The key whose hash is ``digest``, or None."""
    # An index lookup, not a constant-time compare: its timing can only tell how much of a
    # SHA-256 matched, and a preimage of a 256-bit key's hash is out of reach.
    row = (
        await connection.execute(api_keys.select().where(api_keys.c.key_sha256 == digest))
    ).first()
    return None if row is None else _record(row)


async def delete_api_key(connection: AsyncConnection, key_id: str) -> str | None:
    """Delete a key; the hash it had (to forget it from caches), or None if there was none."""
    digest = await connection.scalar(
        api_keys.delete().where(api_keys.c.id == key_id).returning(api_keys.c.key_sha256)
    )
    return None if digest is None else str(digest)

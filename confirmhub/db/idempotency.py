"""Idempotency keys in the database, so that every receiver sees every key.

A key is claimed by inserting its row (``in_progress``); the primary key (API key id,
Idempotency-Key) makes the claim atomic across receivers. The request then either
``finish``es it (``done``, with the answer to replay), ``release``s it (the row is deleted:
nothing was done, a retry may proceed), or marks it ``in_doubt`` (something may have been
done whose answer is lost: a retry must not do it again). Rows live until ``expires_at``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from confirmhub.db.engine import insert_for
from confirmhub.db.tables import idempotency_keys

KeyState = Literal["in_progress", "done", "in_doubt"]

_keys = idempotency_keys.c


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A stored Idempotency-Key and, once ``done``, the answer to replay."""

    key_id: str
    idempotency_key: str
    fingerprint: str
    state: str
    status: int | None
    content_type: str | None
    location: str | None
    body: bytes | None
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """What a ``done`` key replays."""

    status: int
    content_type: str | None
    location: str | None
    body: bytes


def _key(key_id: str, key: str) -> sa.ColumnElement[bool]:
    return sa.and_(_keys.key_id == key_id, _keys.idempotency_key == key)


async def claim_key(
    connection: AsyncConnection,
    *,
    key_id: str,
    key: str,
    fingerprint: str,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> IdempotencyRecord | None:
    """Claim the key for a new request (None), or return the row that already holds it."""
    await connection.execute(
        idempotency_keys.delete().where(_key(key_id, key), _keys.expires_at <= now)
    )
    claim = (
        insert_for(connection, idempotency_keys)
        .values(
            key_id=key_id,
            idempotency_key=key,
            fingerprint=fingerprint,
            state="in_progress",
            created_at=now,
            expires_at=now + ttl,
        )
        .on_conflict_do_nothing(index_elements=["key_id", "idempotency_key"])
        .returning(_keys.key_id)
    )
    holder = idempotency_keys.select().where(_key(key_id, key))
    while True:
        if (await connection.execute(claim)).first() is not None:
            return None
        # Read committed: the holder may have been released since the insert saw it.
        row: sa.Row[Any] | None = (await connection.execute(holder)).first()
        if row is not None:
            return IdempotencyRecord(**row._mapping)


async def finish_key(
    connection: AsyncConnection, *, key_id: str, key: str, answer: StoredAnswer
) -> None:
    """Keep the answer of the key's request, to replay it."""
    await connection.execute(
        idempotency_keys.update()
        .where(_key(key_id, key), _keys.state == "in_progress")
        .values(
            state="done",
            status=answer.status,
            content_type=answer.content_type,
            location=answer.location,
            body=answer.body,
        )
    )


async def mark_in_doubt(connection: AsyncConnection, *, key_id: str, key: str) -> None:
    """The key's request may have had its effect, its answer is lost: never run it again."""
    await connection.execute(
        idempotency_keys.update()
        .where(_key(key_id, key), _keys.state == "in_progress")
        .values(state="in_doubt")
    )


async def release_key(connection: AsyncConnection, *, key_id: str, key: str) -> None:
    """Forget the key: its request did nothing, so a retry may run."""
    await connection.execute(
        idempotency_keys.delete().where(_key(key_id, key), _keys.state == "in_progress")
    )


async def purge_expired(connection: AsyncConnection, *, now: dt.datetime, limit: int = 500) -> int:
    """Delete up to ``limit`` expired keys (skipping rows another transaction holds)."""
    expired = (
        sa.select(_keys.key_id, _keys.idempotency_key)
        .where(_keys.expires_at <= now)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await connection.execute(
        idempotency_keys.delete().where(sa.tuple_(_keys.key_id, _keys.idempotency_key).in_(expired))
    )
    return result.rowcount or 0

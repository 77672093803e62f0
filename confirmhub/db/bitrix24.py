"""Bitrix24 portals and method confirmations: reads and conditional writes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from confirmhub.db.engine import insert_for
from confirmhub.db.tables import bitrix24_portals, method_confirmations

PortalSource = Literal["config", "api", "install"]


@dataclass(frozen=True, slots=True)
class MethodConfirmationRecord:
    """A stored method confirmation, keyed by portal, token hash and method."""

    member_id: str
    token_sha256: str
    method: str
    status: str
    domain: str | None
    language_id: str | None
    source_ts: int | None
    decided_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Decision:
    """The result of recording a decision: whether it applied, and the row as it now stands."""

    applied: bool
    record: MethodConfirmationRecord


def _confirmation_key(member_id: str, token_sha256: str, method: str) -> list[Any]:
    columns = method_confirmations.c
    return [
        columns.member_id == member_id,
        columns.token_sha256 == token_sha256,
        columns.method == method,
    ]


async def select_method_confirmation(
    connection: AsyncConnection, member_id: str, token_sha256: str, method: str
) -> MethodConfirmationRecord | None:
    """The stored confirmation, or None."""
    row = (
        await connection.execute(
            method_confirmations.select().where(*_confirmation_key(member_id, token_sha256, method))
        )
    ).first()
    return None if row is None else MethodConfirmationRecord(**row._mapping)


async def register_pending(
    connection: AsyncConnection, *, member_id: str, token_sha256: str, method: str, now: dt.datetime
) -> MethodConfirmationRecord:
    """Record that a call is waiting for approval; an existing row (even decided) stands."""
    await connection.execute(
        insert_for(connection, method_confirmations)
        .values(
            member_id=member_id,
            token_sha256=token_sha256,
            method=method,
            status="pending",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    record = await select_method_confirmation(connection, member_id, token_sha256, method)
    assert record is not None
    return record


async def decide_method_confirmation(
    connection: AsyncConnection,
    *,
    member_id: str,
    token_sha256: str,
    method: str,
    status: Literal["confirmed", "denied"],
    domain: str | None,
    language_id: str | None,
    source_ts: int,
    now: dt.datetime,
) -> Decision:
    """Record a decision once: pending → decided, or decided directly if never registered."""
    decision = {
        "status": status,
        "domain": domain,
        "language_id": language_id,
        "source_ts": source_ts,
        "decided_at": now,
        "updated_at": now,
    }
    key = _confirmation_key(member_id, token_sha256, method)
    # Conditional on "pending": a decision is final for its token, and of two racing
    # workers only one finds the row still pending.
    row = (
        await connection.execute(
            method_confirmations.update()
            .where(*key, method_confirmations.c.status == "pending")
            .values(**decision)
            .returning(*method_confirmations.c)
        )
    ).first()
    if row is None:
        row = (
            await connection.execute(
                insert_for(connection, method_confirmations)
                .values(
                    member_id=member_id,
                    token_sha256=token_sha256,
                    method=method,
                    created_at=now,
                    **decision,
                )
                .on_conflict_do_nothing()
                .returning(*method_confirmations.c)
            )
        ).first()
    if row is not None:
        return Decision(applied=True, record=MethodConfirmationRecord(**row._mapping))
    existing = await select_method_confirmation(connection, member_id, token_sha256, method)
    assert existing is not None
    return Decision(applied=False, record=existing)


async def select_portal_token_hash(connection: AsyncConnection, member_id: str) -> str | None:
    """The SHA-256 of a portal's application token, or None for an unknown portal."""
    value = await connection.scalar(
        sa.select(bitrix24_portals.c.token_sha256).where(bitrix24_portals.c.member_id == member_id)
    )
    return None if value is None else str(value)


async def add_portal_if_absent(
    connection: AsyncConnection,
    *,
    member_id: str,
    token_sha256: str,
    domain: str | None,
    source: PortalSource,
    now: dt.datetime,
) -> bool:
    """Register a portal unless one is known; True if this call registered it."""
    result = await connection.execute(
        insert_for(connection, bitrix24_portals)
        .values(
            member_id=member_id,
            token_sha256=token_sha256,
            domain=domain,
            source=source,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount)


async def put_portal(
    connection: AsyncConnection, *, member_id: str, token_sha256: str, now: dt.datetime
) -> bool:
    """Add or rotate a portal's token (admin API); True if the portal is new."""
    created = await add_portal_if_absent(
        connection,
        member_id=member_id,
        token_sha256=token_sha256,
        domain=None,
        source="api",
        now=now,
    )
    if not created:
        await connection.execute(
            bitrix24_portals.update()
            .where(bitrix24_portals.c.member_id == member_id)
            .values(token_sha256=token_sha256, source="api", updated_at=now)
        )
    return created


async def delete_portal(connection: AsyncConnection, member_id: str) -> bool:
    """Forget a portal; True if it was known."""
    result = await connection.execute(
        bitrix24_portals.delete().where(bitrix24_portals.c.member_id == member_id)
    )
    return bool(result.rowcount)

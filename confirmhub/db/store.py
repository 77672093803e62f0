"""The store: every read and conditional write the receiver and worker make."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from confirmhub.db.engine import READ_ONLY, insert_for
from confirmhub.db.tables import outbox, password_calls


@dataclass(frozen=True, slots=True)
class PasswordCallRecord:
    """A stored password call."""

    verification_call_uuid: str
    call_id: str
    account_id: str
    phone_number: str | None
    code_hash: str | None
    initiated_at: dt.datetime | None
    outcome: str | None
    q931_status: int | None
    final_status: str | None
    completed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    code_encrypted: bytes | None
    code_expires_at: dt.datetime | None
    locale: str | None
    check_attempts: int
    verification_status: str
    approved_at: dt.datetime | None
    sms_status: str | None
    sms_provider: str | None
    sms_message_id: str | None
    sms_error: str | None
    sms_updated_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """A downstream event waiting in the outbox, body already serialized."""

    event_id: str
    routing_key: str
    body: bytes
    correlation_id: str | None
    created_at: dt.datetime


def record_from_row(row: sa.Row[Any]) -> PasswordCallRecord:
    """A PasswordCallRecord from a full ``password_calls`` row."""
    return PasswordCallRecord(**row._mapping)


class Transaction:
    """One database transaction; the worker's state change and its outbox row commit together."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def complete_password_call(
        self,
        *,
        verification_call_uuid: str,
        call_id: str,
        account_id: str,
        outcome: str,
        q931_status: int,
        final_status: str | None,
        now: dt.datetime,
    ) -> PasswordCallRecord | None:
        """Record a call's outcome once; None when the call already has one."""
        completion = {
            "outcome": outcome,
            "q931_status": q931_status,
            "final_status": final_status,
            "completed_at": now,
            "updated_at": now,
        }
        # The outcome-is-null guard makes the transition conditional: of two workers racing
        # on one call, only one sees a row to update.
        updated = await self.connection.execute(
            password_calls.update()
            .where(
                password_calls.c.verification_call_uuid == verification_call_uuid,
                password_calls.c.outcome.is_(None),
            )
            .values(**completion)
            .returning(*password_calls.c)
        )
        row = updated.first()
        if row is not None:
            return record_from_row(row)
        # No call awaiting an outcome: either a CDR for a call not (yet) initiated here,
        # or a duplicate. Insert-if-absent tells the two apart without a race.
        inserted = await self.connection.execute(
            insert_for(self.connection, password_calls)
            .values(
                verification_call_uuid=verification_call_uuid,
                call_id=call_id,
                account_id=account_id,
                created_at=now,
                **completion,
            )
            .on_conflict_do_nothing(index_elements=["verification_call_uuid"])
            .returning(*password_calls.c)
        )
        row = inserted.first()
        return None if row is None else record_from_row(row)

    async def add_outbox_event(self, event: OutboxEvent) -> bool:
        """Queue an event for publishing; False if an event with its id is already there."""
        result = await self.connection.execute(
            insert_for(self.connection, outbox)
            .values(
                event_id=event.event_id,
                routing_key=event.routing_key,
                body=event.body,
                correlation_id=event.correlation_id,
                created_at=event.created_at,
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
        return bool(result.rowcount)

    async def claim_unpublished_events(
        self, *, created_before: dt.datetime, limit: int
    ) -> Sequence[OutboxEvent]:
        """Lock and return unpublished events, oldest first; rows another sweeper holds are
        skipped (PostgreSQL), and SQLite's single writer serializes sweepers anyway."""
        rows = await self.connection.execute(
            sa.select(
                outbox.c.event_id,
                outbox.c.routing_key,
                outbox.c.body,
                outbox.c.correlation_id,
                outbox.c.created_at,
            )
            .where(outbox.c.published_at.is_(None), outbox.c.created_at < created_before)
            .order_by(outbox.c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [OutboxEvent(**row._mapping) for row in rows]

    async def mark_published(self, event_ids: Sequence[str], *, now: dt.datetime) -> None:
        """Record that the broker confirmed these events."""
        if event_ids:
            await self.connection.execute(
                outbox.update()
                .where(outbox.c.event_id.in_(event_ids), outbox.c.published_at.is_(None))
                .values(published_at=now)
            )

    async def record_initiated_call(
        self,
        *,
        verification_call_uuid: str,
        call_id: str,
        account_id: str,
        phone_number: str,
        code_hash: str | None,
        code_encrypted: bytes | None,
        code_expires_at: dt.datetime | None,
        locale: str | None,
        now: dt.datetime,
    ) -> PasswordCallRecord:
        """Store an initiated call; a CDR that arrived first keeps its outcome."""
        initiation = {
            "phone_number": phone_number,
            "code_hash": code_hash,
            "code_encrypted": code_encrypted,
            "code_expires_at": code_expires_at,
            "locale": locale,
            "initiated_at": now,
        }
        statement = insert_for(self.connection, password_calls).values(
            verification_call_uuid=verification_call_uuid,
            call_id=call_id,
            account_id=account_id,
            created_at=now,
            updated_at=now,
            **initiation,
        )
        statement = statement.on_conflict_do_update(
            index_elements=["verification_call_uuid"],
            set_={**initiation, "updated_at": now},
            where=password_calls.c.initiated_at.is_(None),
        ).returning(*password_calls.c)
        row = (await self.connection.execute(statement)).first()
        if row is None:  # initiated before: the first initiation stands
            row = (
                await self.connection.execute(
                    password_calls.select().where(
                        password_calls.c.verification_call_uuid == verification_call_uuid
                    )
                )
            ).one()
        return record_from_row(row)


class Store:
    """Database access shared by the receiver and the worker."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A transaction that commits when the block ends and rolls back on error."""
        async with self.engine.begin() as connection:
            yield Transaction(connection)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads outside any write transaction."""
        async with self.engine.connect() as connection:
            yield await connection.execution_options(**{READ_ONLY: True})

    async def get_password_call(self, verification_call_uuid: str) -> PasswordCallRecord | None:
        """The stored call, or None."""
        async with self.reading() as connection:
            row = (
                await connection.execute(
                    password_calls.select().where(
                        password_calls.c.verification_call_uuid == verification_call_uuid
                    )
                )
            ).first()
        return None if row is None else record_from_row(row)

    async def count_unpublished(self) -> int:
        """Events not yet confirmed by the broker (read through the partial index)."""
        async with self.reading() as connection:
            count = await connection.scalar(
                sa.select(sa.func.count())
                .select_from(outbox)
                .where(outbox.c.published_at.is_(None))
            )
        return int(count or 0)

    async def mark_published(self, event_ids: Sequence[str], *, now: dt.datetime) -> None:
        """Record that the broker confirmed these events."""
        async with self.transaction() as tx:
            await tx.mark_published(event_ids, now=now)

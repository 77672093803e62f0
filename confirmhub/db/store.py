"""The store: every read and conditional write the receiver and worker make."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from confirmhub.db import bulk
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
    sms_claim: int
    sms_round: int
    sms_counted_round: int


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """A downstream event waiting in the outbox, body already serialized."""

    event_id: str
    routing_key: str
    body: bytes
    correlation_id: str | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CallCompletion:
    """A CDR's outcome to record on its call."""

    verification_call_uuid: str
    call_id: str
    account_id: str
    outcome: str
    q931_status: int
    final_status: str | None
    # Whether this outcome calls for the SMS fallback (queued only if the call has a code).
    wants_sms: bool = False


@dataclass(frozen=True, slots=True)
class CompletedCall:
    """A call whose outcome was just recorded; ``late`` if its CDR came after the call had
    ended without one (canceled, or timed out): stored, but nothing is published or sent."""

    record: PasswordCallRecord
    sms_queued: bool
    late: bool = False


def record_from_row(row: sa.Row[Any]) -> PasswordCallRecord:
    """A PasswordCallRecord from a full ``password_calls`` row."""
    return PasswordCallRecord(**row._mapping)


def _ended_without_cdr(record: PasswordCallRecord) -> bool:
    """Canceled, or timed out (outcome ``no_cdr``), and no CDR stored since."""
    ended = record.verification_status == "canceled" or record.outcome == "no_cdr"
    return ended and record.q931_status is None


def _sms_queueable(record: PasswordCallRecord) -> bool:
    # The same guard as verification.queue_sms: once per call, and only with a code to send.
    return (
        record.sms_status is None
        and record.code_encrypted is not None
        and record.phone_number is not None
    )


_calls = password_calls.c
_KEYS_PER_SELECT = 1_000
# Built once, executed with one parameter set per call (the rows are locked by then).
_COMPLETE_LOCKED = (
    password_calls.update()
    # No CDR stored yet (a call ended by the CDR timeout has an outcome, but no status).
    .where(_calls.verification_call_uuid == sa.bindparam("b_uuid"), _calls.q931_status.is_(None))
    .values(
        outcome=sa.bindparam("b_outcome"),
        q931_status=sa.bindparam("b_q931_status"),
        final_status=sa.bindparam("b_final_status"),
        completed_at=sa.bindparam("b_completed_at"),
        updated_at=sa.bindparam("b_now"),
        sms_status=sa.bindparam("b_sms_status"),
        sms_updated_at=sa.bindparam("b_sms_updated_at"),
    )
)


class Transaction:
    """One database transaction; the worker's state change and its outbox row commit together."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self._postgresql = connection.dialect.name == "postgresql"

    async def complete_password_calls(
        self, completions: Sequence[CallCompletion], *, now: dt.datetime
    ) -> list[CompletedCall | None]:
        """Record calls' outcomes once, in a few statements whatever their number.

        One result per completion, in order: None for a call that already had an outcome
        (a duplicate changes nothing), and for a repeat of a call earlier in the list.
        """
        # Read the calls first, locking them on PostgreSQL, in key order so that the
        # batches of two workers cannot deadlock; SQLite's writer lock serializes anyway.
        # With the rows held, the outcome-is-null guard of the update below cannot lose a
        # race, and whether an SMS is due is decided from what was read.
        keys = sorted({c.verification_call_uuid for c in completions})
        stored: dict[str, PasswordCallRecord] = {}
        if self._postgresql:
            rows = await self.connection.execute(bulk.SELECT_CALLS_FOR_UPDATE, {"keys": keys})
            stored = {row.verification_call_uuid: record_from_row(row) for row in rows}
        # In chunks: SQLite caps a statement's parameters (32,766).
        for start in range(0, 0 if self._postgresql else len(keys), _KEYS_PER_SELECT):
            chunk = keys[start : start + _KEYS_PER_SELECT]
            select = password_calls.select().where(_calls.verification_call_uuid.in_(chunk))
            for row in await self.connection.execute(select):
                stored[row.verification_call_uuid] = record_from_row(row)
        done: dict[str, CompletedCall | None] = {}
        updates: list[dict[str, Any]] = []
        inserts: dict[str, CallCompletion] = {}
        for completion in completions:
            key = completion.verification_call_uuid
            record = stored.get(key)
            if key in done or key in inserts:
                continue
            if record is None:
                inserts[key] = completion
                continue
            late = _ended_without_cdr(record)
            if record.outcome is not None and not late:
                done[key] = None
                continue
            sms_queued = not late and completion.wants_sms and _sms_queueable(record)
            record = dataclasses.replace(
                record,
                # A timed-out call keeps its no_cdr; the CDR's statuses are kept for operators.
                outcome=record.outcome or completion.outcome,
                q931_status=completion.q931_status,
                final_status=completion.final_status,
                completed_at=record.completed_at or now,
                updated_at=now,
                sms_status="queued" if sms_queued else record.sms_status,
                sms_updated_at=now if sms_queued else record.sms_updated_at,
            )
            done[key] = CompletedCall(record=record, sms_queued=sms_queued, late=late)
            updates.append(
                {
                    "b_uuid": key,
                    "b_outcome": record.outcome,
                    "b_q931_status": record.q931_status,
                    "b_final_status": record.final_status,
                    "b_completed_at": record.completed_at,
                    "b_now": now,
                    "b_sms_status": record.sms_status,
                    "b_sms_updated_at": record.sms_updated_at,
                }
            )
        if updates:
            await self.connection.execute(_COMPLETE_LOCKED, updates)
        if inserts:
            # Key order again: two batches inserting the same new calls wait, never deadlock.
            ordered = [inserts[key] for key in sorted(inserts)]
            done.update(await self._insert_completed(ordered, now=now))
        # pop: a repeat later in the list is a duplicate of its first occurrence.
        return [done.pop(c.verification_call_uuid, None) for c in completions]

    async def _insert_completed(
        self, completions: Sequence[CallCompletion], *, now: dt.datetime
    ) -> dict[str, CompletedCall | None]:
        """Insert calls first seen by their CDR (not initiated here, or not yet)."""
        if self._postgresql:
            inserted = await self.connection.execute(
                bulk.INSERT_COMPLETED_CALLS,
                {
                    "uuids": [c.verification_call_uuid for c in completions],
                    "call_ids": [c.call_id for c in completions],
                    "account_ids": [c.account_id for c in completions],
                    "outcomes": [c.outcome for c in completions],
                    "q931_statuses": [c.q931_status for c in completions],
                    "final_statuses": [c.final_status for c in completions],
                    "now": now,
                },
            )
        else:
            inserted = await self.connection.execute(
                insert_for(self.connection, password_calls)
                .on_conflict_do_nothing(index_elements=["verification_call_uuid"])
                .returning(*password_calls.c),
                [
                    {
                        "verification_call_uuid": c.verification_call_uuid,
                        "call_id": c.call_id,
                        "account_id": c.account_id,
                        "outcome": c.outcome,
                        "q931_status": c.q931_status,
                        "final_status": c.final_status,
                        "completed_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for c in completions
                ],
            )
        done: dict[str, CompletedCall | None] = {
            row.verification_call_uuid: CompletedCall(record=record_from_row(row), sms_queued=False)
            for row in inserted
        }
        # A conflict is a call created since the read (an initiation, or another worker's
        # CDR) and committed by now: go round once more; this time it is read and locked.
        collided = [c for c in completions if c.verification_call_uuid not in done]
        if collided:
            again = await self.complete_password_calls(collided, now=now)
            done.update((c.verification_call_uuid, r) for c, r in zip(collided, again, strict=True))
        return done

    async def add_outbox_events(self, events: Sequence[OutboxEvent]) -> None:
        """Queue events for publishing in one statement; ids already there are skipped."""
        if events and self._postgresql:
            await self.connection.execute(
                bulk.INSERT_OUTBOX_EVENTS,
                {
                    "event_ids": [event.event_id for event in events],
                    "routing_keys": [event.routing_key for event in events],
                    "bodies": [event.body for event in events],
                    "correlation_ids": [event.correlation_id for event in events],
                    "created_ats": [event.created_at for event in events],
                },
            )
        elif events:
            await self.connection.execute(
                insert_for(self.connection, outbox).on_conflict_do_nothing(
                    index_elements=["event_id"]
                ),
                [
                    {
                        "event_id": event.event_id,
                        "routing_key": event.routing_key,
                        "body": event.body,
                        "correlation_id": event.correlation_id,
                        "created_at": event.created_at,
                    }
                    for event in events
                ],
            )

    async def claim_unpublished_events(
        self, *, created_before: dt.datetime, limit: int, now: dt.datetime, until: dt.datetime
    ) -> Sequence[OutboxEvent]:
        """Claim unpublished events until ``until`` and return them, oldest first.

        A claim is a lease, not a lock: the transaction ends before anything is published,
        so no row lock (PostgreSQL) or write lock (SQLite) is held while the broker is
        awaited. Events another sweep holds are skipped, and so are rows it is claiming
        right now (PostgreSQL: SKIP LOCKED; SQLite's single writer serializes claims).
        """
        unclaimed = (
            sa.select(outbox.c.event_id)
            .where(
                outbox.c.published_at.is_(None),
                outbox.c.created_at < created_before,
                sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
            )
            .order_by(outbox.c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = await self.connection.execute(
            outbox.update()
            .where(outbox.c.event_id.in_(unclaimed.scalar_subquery()))
            .values(claimed_until=until)
            .returning(
                outbox.c.event_id,
                outbox.c.routing_key,
                outbox.c.body,
                outbox.c.correlation_id,
                outbox.c.created_at,
            )
        )
        events = [OutboxEvent(**row._mapping) for row in rows]
        return sorted(events, key=lambda event: event.created_at)

    async def release_claims(self, event_ids: Sequence[str]) -> None:
        """End the claims on events that could not be published: the next sweep retries."""
        if event_ids:
            await self.connection.execute(
                outbox.update().where(outbox.c.event_id.in_(event_ids)).values(claimed_until=None)
            )

    async def mark_published(self, event_ids: Sequence[str], *, now: dt.datetime) -> None:
        """Record that the broker confirmed these events."""
        if event_ids and self._postgresql:
            await self.connection.execute(
                bulk.MARK_PUBLISHED, {"event_ids": list(event_ids), "now": now}
            )
        elif event_ids:
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
            if self.engine.dialect.name == "postgresql":
                # A mark lost in a crash only means the sweep publishes the event again, with
                # its id: not worth a disk flush per batch.
                await tx.connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
            await tx.mark_published(event_ids, now=now)

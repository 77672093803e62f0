"""Rate limits shared by every process through the database: GCRA, one row per bucket.

A bucket keeps its theoretical arrival time (``tat_ms``): when it would be empty again. An
event is allowed when, after adding its emission interval, the bucket is at most one window
ahead of now; one conditional upsert per bucket decides and consumes at once, so two
receivers can never both take the last slot. Several buckets are taken in one transaction,
in a fixed order (no deadlocks); the first that refuses raises ``RateLimited``, and the
transaction's rollback gives back what the others took.

pyrate-limiter 4 keeps its SQL buckets through psycopg (a second driver beside asyncpg and
aiosqlite, and its own connections outside our transactions); ``limits`` has no SQL storage.
Neither can take a bucket in the transaction that claims the number, so the limiter is ours.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from confirmhub.db.engine import insert_for
from confirmhub.db.tables import rate_buckets
from confirmhub.errors import ConfirmhubError
from confirmhub.guards import Rate

_buckets = rate_buckets.c


@dataclass(frozen=True, slots=True, order=True)
class Bucket:
    """One rate applied to one subject: ``name`` says what is counted (``call-number``)."""

    name: str
    subject: str
    rate: Rate

    @property
    def kind(self) -> str:
        """The stored kind: the name and the rate, so that a changed rate starts afresh."""
        return f"{self.name}:{self.rate}"


class RateLimited(ConfirmhubError):
    """A bucket refused: nothing was taken from any bucket of the request."""

    def __init__(self, bucket: Bucket, *, retry_after: int) -> None:
        super().__init__(f"{bucket.name} {bucket.rate} reached; retry in {retry_after} s")
        self.bucket = bucket
        self.retry_after = retry_after


def buckets_for(name: str, subject: str, rates: Sequence[Rate]) -> list[Bucket]:
    """One bucket per rate for ``subject``."""
    return [Bucket(name, subject, rate) for rate in rates]


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


async def take(connection: AsyncConnection, buckets: Sequence[Bucket], *, now: dt.datetime) -> None:
    """Take one event from every bucket, or raise ``RateLimited`` for the first that refuses
    (the caller's transaction must then roll back)."""
    now_ms = sa.literal(_ms(now), sa.BigInteger())
    for bucket in sorted(buckets, key=lambda each: (each.kind, each.subject)):
        interval = bucket.rate.interval_ms
        tolerance = bucket.rate.seconds * 1000 - interval
        start = sa.case((_buckets.tat_ms > now_ms, _buckets.tat_ms), else_=now_ms)
        upsert = (
            insert_for(connection, rate_buckets)
            .values(kind=bucket.kind, subject=bucket.subject, tat_ms=_ms(now) + interval)
            .on_conflict_do_update(
                index_elements=["kind", "subject"],
                set_={"tat_ms": start + sa.literal(interval, sa.BigInteger())},
                where=start - now_ms <= sa.literal(tolerance, sa.BigInteger()),
            )
            .returning(_buckets.tat_ms)
        )
        if (await connection.execute(upsert)).first() is not None:
            continue
        tat_ms = (
            await connection.execute(
                sa.select(_buckets.tat_ms).where(
                    _buckets.kind == bucket.kind, _buckets.subject == bucket.subject
                )
            )
        ).scalar_one()
        wait_ms = tat_ms + interval - bucket.rate.seconds * 1000 - _ms(now)
        raise RateLimited(bucket, retry_after=max(1, math.ceil(wait_ms / 1000)))


async def purge_idle(connection: AsyncConnection, *, now: dt.datetime, limit: int = 500) -> int:
    """Delete up to ``limit`` buckets that are empty again (as good as absent); skips rows
    another transaction holds, so a purge never waits for, or deadlocks with, a take."""
    idle = (
        sa.select(_buckets.kind, _buckets.subject)
        .where(_buckets.tat_ms <= _ms(now))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await connection.execute(
        rate_buckets.delete().where(sa.tuple_(_buckets.kind, _buckets.subject).in_(idle))
    )
    return result.rowcount or 0

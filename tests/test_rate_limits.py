"""GCRA rate limits in the database: exact counts, every bucket or none, across processes."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.db import rate_limits
from confirmhub.db.engine import create_engine
from confirmhub.db.rate_limits import Bucket, RateLimited
from confirmhub.db.store import Store
from confirmhub.db.tables import rate_buckets
from confirmhub.guards import Rate, calling_code_allowed, parse_calling_codes, parse_rates

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


async def _take(store: Store, buckets: list[Bucket], now: dt.datetime) -> int | None:
    """Take from ``buckets``; None if allowed, else the Retry-After seconds."""
    try:
        async with store.transaction() as tx:
            await rate_limits.take(tx.connection, buckets, now=now)
    except RateLimited as exc:
        return exc.retry_after
    return None


def test_rates_and_calling_codes_parse_as_configured() -> None:
    assert parse_rates("5/600,20/86400") == (Rate(5, 600), Rate(20, 86400))
    assert parse_rates("") == ()
    assert parse_calling_codes("421, +420") == {"421", "420"}
    for bad in ("5", "0/60", "5/0", "x/60", "5/60/1"):
        with pytest.raises(ValueError, match="count/seconds"):
            parse_rates(bad)
    with pytest.raises(ValueError, match="calling code"):
        parse_calling_codes("4210")
    codes = parse_calling_codes("421,1")
    assert calling_code_allowed("+421222202004", codes)
    assert calling_code_allowed("12125550100", codes)
    assert not calling_code_allowed("+420222202004", codes)
    assert calling_code_allowed("+420222202004", frozenset())


async def test_a_bucket_allows_its_count_then_says_when_to_retry(engine: AsyncEngine) -> None:
    store = Store(engine)
    bucket = [Bucket("call-number", "421222202004", Rate(3, 600))]
    assert [await _take(store, bucket, NOW) for _ in range(3)] == [None, None, None]
    # One slot frees every 200 s: the oldest of the three.
    assert await _take(store, bucket, NOW) == 200
    assert await _take(store, bucket, NOW + dt.timedelta(seconds=150)) == 50
    assert await _take(store, bucket, NOW + dt.timedelta(seconds=200)) is None
    assert await _take(store, bucket, NOW + dt.timedelta(seconds=200)) == 200
    # Another subject has buckets of its own.
    assert await _take(store, [Bucket("call-number", "420", Rate(3, 600))], NOW) is None


async def test_a_refusing_bucket_takes_nothing_from_the_others(engine: AsyncEngine) -> None:
    store = Store(engine)
    wide = Bucket("call-key", "key", Rate(2, 60))
    narrow = Bucket("call-number", "421", Rate(1, 600))
    assert await _take(store, [wide, narrow], NOW) is None
    # The number refuses; the key's bucket must keep its second slot.
    assert await _take(store, [wide, narrow], NOW) == 600
    assert await _take(store, [wide], NOW) is None
    assert await _take(store, [wide], NOW) == 30


async def test_idle_buckets_are_purged(engine: AsyncEngine) -> None:
    store = Store(engine)
    await _take(store, [Bucket("call-number", "1", Rate(1, 60))], NOW)
    await _take(store, [Bucket("call-number", "2", Rate(1, 600))], NOW)
    async with store.transaction() as tx:
        purged = await rate_limits.purge_idle(tx.connection, now=NOW + dt.timedelta(seconds=61))
    async with store.reading() as connection:
        left = (await connection.execute(sa.select(rate_buckets.c.subject))).scalars().all()
    assert (purged, left) == (1, ["2"])


async def test_fifty_concurrent_takes_through_two_engines_allow_exactly_the_count(
    engine: AsyncEngine, database_url: str
) -> None:
    """Two processes' worth of connection pools on one database: the count holds."""
    other = create_engine(database_url)
    try:
        stores = [Store(engine), Store(other)]
        bucket = [Bucket("call-number", "421222202004", Rate(3, 600))]
        results = await asyncio.gather(*(_take(stores[n % 2], bucket, NOW) for n in range(50)))
    finally:
        await other.dispose()
    assert results.count(None) == 3
    assert all(result == 200 for result in results if result is not None)

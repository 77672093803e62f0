"""What is checked before MCN is asked for a call, so that a refused request costs nothing.

In the order applied: the number's country (403 ``country-not-allowed``), then, in the
transaction that claims the number (confirmhub/db/call_requests.py), a call to the number
still awaiting its CDR (409 ``live-call``, naming it) and the limits per number and per API
key (429 ``call-limit-per-number`` / ``call-limit-per-key`` with Retry-After). A refusal
rolls the transaction back: the claim and every bucket taken before it are given back.
Every refusal is counted in ``confirmhub_calls_refused_total{reason}``.
"""

from __future__ import annotations

import datetime as dt
import random

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from confirmhub import metrics
from confirmhub.db import call_requests, rate_limits
from confirmhub.db.rate_limits import Bucket, RateLimited
from confirmhub.db.store import Store
from confirmhub.guards import calling_code_allowed
from confirmhub.settings import Settings
from receiver.errors import (
    CallLimitPerKey,
    CallLimitPerNumber,
    CountryNotAllowed,
    LiveCall,
    ReceiverError,
)

log = structlog.get_logger("confirmhub.receiver")

CALL_NUMBER = "call-number"
CALL_KEY = "call-key"
# Idle buckets are purged by one call in this many, in a transaction of its own (a purge in
# the claim's transaction could lock a bucket another claim is waiting for).
PURGE_ONE_IN = 16


def refused(error: ReceiverError) -> ReceiverError:
    """Count and log a refused call; returns ``error`` to raise."""
    metrics.CALLS_REFUSED.labels(error.slug).inc()
    log.info("password_call.refused", reason=error.slug)
    return error


def check_country(phone_number: str, settings: Settings) -> None:
    """Refuse a number outside ``CONFIRMHUB_CALL_COUNTRIES``."""
    if not calling_code_allowed(phone_number, settings.calling_codes):
        raise refused(CountryNotAllowed("this number's country calling code may not be called"))


def call_buckets(phone_number: str, key_id: str, settings: Settings) -> list[Bucket]:
    """The buckets one call takes from: every rate per number and per API key."""
    number = call_requests.number_key(phone_number)
    return [
        *rate_limits.buckets_for(CALL_NUMBER, number, settings.call_number_rates),
        *rate_limits.buckets_for(CALL_KEY, key_id, settings.call_key_rates),
    ]


async def check_number(
    connection: AsyncConnection,
    *,
    phone_number: str,
    key_id: str,
    settings: Settings,
    now: dt.datetime,
) -> None:
    """Refuse a live call to the number, or a limit reached; else take from the limits."""
    since = now - dt.timedelta(seconds=settings.cdr_timeout_seconds)
    live = await call_requests.live_call(connection, phone_number, since=since)
    if live is not None:
        raise refused(
            LiveCall(
                "a call to this number still awaits its outcome",
                members={"verification_call_uuid": live},
            )
        )
    try:
        await rate_limits.take(connection, call_buckets(phone_number, key_id, settings), now=now)
    except RateLimited as exc:
        error_type = CallLimitPerNumber if exc.bucket.name == CALL_NUMBER else CallLimitPerKey
        what = "to this number" if exc.bucket.name == CALL_NUMBER else "by this API key"
        raise refused(
            error_type(
                f"at most {exc.bucket.rate.count} calls {what} within "
                f"{exc.bucket.rate.seconds} s; retry in {exc.retry_after} s",
                headers={"Retry-After": str(exc.retry_after)},
                members={"retry_after": exc.retry_after},
            )
        ) from exc


async def purge_idle_buckets(store: Store, *, now: dt.datetime) -> None:
    """Now and then, delete buckets that are empty again; a failure costs nothing."""
    if random.randrange(PURGE_ONE_IN):  # noqa: S311 (not a secret)
        return
    try:
        async with store.transaction() as tx:
            await rate_limits.purge_idle(tx.connection, now=now)
    except Exception as exc:  # the call goes on: the purge is only housekeeping
        log.warning("rate_limits.purge_failed", error=type(exc).__name__)

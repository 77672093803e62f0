"""``CONFIRMHUB_SMS_LIMITS_PER_NUMBER``: fallback SMS to one number, checked when an SMS is
claimed for a send round, before any provider is asked. A round is counted once
(``sms_counted_round``), however many claims it takes to send it; a refused round is checked
again by a claim that takes it over.

SMS pumping (making a verification service text premium numbers) is the classic fraud
against verification APIs; a refused SMS ends ``failed`` with the reason, and nothing is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from confirmhub import metrics
from confirmhub.db import rate_limits
from confirmhub.db.call_requests import number_key
from confirmhub.db.rate_limits import RateLimited
from confirmhub.db.store import PasswordCallRecord
from confirmhub.db.tables import password_calls
from confirmhub.guards import Rate

log = structlog.get_logger("confirmhub.worker")

SMS_NUMBER = "sms-number"
REFUSAL = "sms-limit-per-number"


async def take_sms_limit(
    connection: AsyncConnection,
    record: PasswordCallRecord,
    rates: Sequence[Rate],
    *,
    now: dt.datetime,
) -> str | None:
    """Count the call's current SMS round against its number's buckets, once per round; if
    one refuses, nothing is taken and the reason is returned (to end the SMS with)."""
    if not rates or record.phone_number is None or record.sms_counted_round >= record.sms_round:
        return None
    buckets = rate_limits.buckets_for(SMS_NUMBER, number_key(record.phone_number), rates)
    try:
        # A savepoint: the claim around it stands whatever the buckets say.
        async with connection.begin_nested():
            await rate_limits.take(connection, buckets, now=now)
            await connection.execute(
                password_calls.update()
                .where(password_calls.c.verification_call_uuid == record.verification_call_uuid)
                .values(sms_counted_round=record.sms_round)
            )
    except RateLimited as exc:
        metrics.CALLS_REFUSED.labels(REFUSAL).inc()
        log.warning("sms.refused", reason=REFUSAL, limit=str(exc.bucket.rate))
        return (
            f"{REFUSAL}: at most {exc.bucket.rate.count} SMS to this number within "
            f"{exc.bucket.rate.seconds} s; nothing was sent"
        )
    return None

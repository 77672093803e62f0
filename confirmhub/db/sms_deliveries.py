"""Delivery receipts on SMS attempts, and the one failover an undelivered SMS calls for.

Conditional writes only: receipts repeat, race each other and arrive out of order, so an
attempt's delivery is written only while it is not final (``sent`` after ``delivered``
changes nothing), and a final delivery is recorded by exactly one receipt, the one whose
write changed the row.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from confirmhub.db.sms_attempts import SmsAttempt, attempt_from_row
from confirmhub.db.tables import confirmation_providers, password_calls, sms_attempts
from confirmhub.sms.base import Delivery, DeliveryReport

_attempts = sms_attempts.c
_calls = password_calls.c
_OPEN = sa.or_(_attempts.delivery.is_(None), _attempts.delivery == Delivery.PENDING.value)
FAILOVER_ROUND = 2


async def receipt_attempt(
    connection: AsyncConnection,
    *,
    provider_id: int,
    provider_message_id: str,
    reference: str | None,
) -> SmsAttempt | None:
    """The attempt a receipt of this provider is about, or None.

    By our reference first, when a signed receipt carries one: it finds an attempt whose
    message id is not recorded yet (a receipt that overtook the provider's answer, or an
    answer that never came). The attempt must be this provider's, and its message id unset or
    the receipt's. Otherwise by the provider's message id.
    """
    if reference is not None:
        row = (
            await connection.execute(
                sms_attempts.select().where(
                    _attempts.attempt_id == reference,
                    _attempts.provider_id == provider_id,
                    sa.or_(
                        _attempts.provider_message_id.is_(None),
                        _attempts.provider_message_id == provider_message_id,
                    ),
                )
            )
        ).first()
        if row is not None:
            return attempt_from_row(row)
    row = (
        await connection.execute(
            sms_attempts.select()
            .where(
                _attempts.provider_id == provider_id,
                _attempts.provider_message_id == provider_message_id,
            )
            .order_by(_attempts.started_at)
            .limit(1)
        )
    ).first()
    return None if row is None else attempt_from_row(row)


async def record_delivery(
    connection: AsyncConnection, attempt: SmsAttempt, report: DeliveryReport, *, now: dt.datetime
) -> SmsAttempt | None:
    """Record what a receipt says of ``attempt``; the attempt as it became, or None when the
    receipt changed nothing (a repeat, or a delivery that was final already).

    A receipt that names the message of an attempt whose answer was never recorded records
    its message id too: the provider has proved it took the message.
    """
    changes = sa.or_(
        _attempts.delivery.is_(None),
        _attempts.delivery_status.is_distinct_from(report.status),
        _attempts.delivery_error_code.is_distinct_from(report.error_code),
    )
    row = (
        await connection.execute(
            sms_attempts.update()
            .where(
                _attempts.attempt_id == attempt.attempt_id,
                _OPEN,
                sa.or_(
                    _attempts.provider_message_id.is_(None),
                    _attempts.provider_message_id == report.provider_message_id,
                ),
                # A final report always lands on an open delivery; a pending one only if it
                # says something new.
                sa.true() if report.delivery.final else changes,
            )
            .values(
                delivery=report.delivery.value,
                delivery_status=report.status,
                delivery_error_code=report.error_code,
                delivery_updated_at=now,
                provider_message_id=sa.func.coalesce(
                    _attempts.provider_message_id, report.provider_message_id
                ),
            )
            .returning(*sms_attempts.c)
        )
    ).first()
    return None if row is None else attempt_from_row(row)


async def queue_failover(
    connection: AsyncConnection, verification_call_uuid: str, *, now: dt.datetime
) -> bool:
    """Queue the call's one failover SMS, if it is due; True if this call queued it.

    Due when the call's first SMS has ended and its receipt says undelivered, none says
    delivered, the code may still be checked, and an enabled provider has not been asked
    for this call yet. Run it wherever either half becomes true (a receipt recorded, a
    first SMS finished): the one conditional update queues it once.
    """
    call = _calls.verification_call_uuid == verification_call_uuid
    first_round = sa.and_(
        _attempts.verification_call_uuid == verification_call_uuid, _attempts.send_round == 1
    )
    asked = sa.select(_attempts.provider_id).where(
        _attempts.verification_call_uuid == verification_call_uuid
    )
    providers = confirmation_providers.c
    result = await connection.execute(
        password_calls.update()
        .where(
            call,
            _calls.sms_round == 1,
            _calls.sms_status.in_(("sent", "failed")),
            _calls.verification_status == "pending",
            _calls.code_expires_at > now,
            sa.exists().where(first_round, _attempts.delivery == Delivery.UNDELIVERED.value),
            ~sa.exists().where(first_round, _attempts.delivery == Delivery.DELIVERED.value),
            sa.exists().where(providers.is_enabled.is_(True), providers.id.not_in(asked)),
        )
        .values(sms_status="queued", sms_round=FAILOVER_ROUND, sms_updated_at=now)
    )
    return bool(result.rowcount)

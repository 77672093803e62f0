"""Recording SMS delivery receipts: authenticated, matched to the SMS sent, recorded once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import aiohttp
import structlog

from confirmhub import metrics
from confirmhub.crypto import SecretsBox
from confirmhub.db import confirmations, sms_deliveries
from confirmhub.db.sms_attempts import SmsAttempt
from confirmhub.db.store import Store
from confirmhub.events import password_call_sms_delivery_event
from confirmhub.outbox import OutboxRelay
from confirmhub.sms import (
    Delivery,
    DeliveryReport,
    InvalidReceipt,
    PermanentSmsError,
    ReceiptNotAuthentic,
    ReceiptReader,
    ReceiptUnconfirmed,
    ReceivedReceipt,
    build_receipt_reader,
    signs_receipts,
)
from confirmhub.sms._receipts import NOT_VERIFIED
from receiver import errors

log = structlog.get_logger("confirmhub.receiver")

# One answer whether the provider or the message is unknown: it tells nothing of either.
NO_MATCH = "no SMS sent through this provider matches the receipt"
# Provider ids are 32-bit on every backend; a larger one names no provider.
_MAX_PROVIDER_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class RecordedReceipt:
    """What a receipt did: the delivery it recorded (None: a repeat that changed nothing)."""

    attempt: SmsAttempt
    delivery: Delivery | None
    failover_queued: bool


class ReceiptDesk:
    """Takes SMS delivery receipts for the configured providers.

    A receipt is authenticated by its provider's own means (a signature, or for SMSAero a
    status query), matched to the provider request it reports on, and recorded under the
    rules of ``confirmhub.db.sms_deliveries``: a final delivery once, never regressed. A
    final one is published (``password_call.sms_delivered`` / ``.sms_undelivered``) from
    the outbox it was committed with; an undelivered first SMS queues its one failover,
    which a worker's SMS sweep sends.
    """

    def __init__(
        self,
        store: Store,
        relay: OutboxRelay,
        *,
        box: SecretsBox,
        session: aiohttp.ClientSession,
        timeout: float,
    ) -> None:
        self._store = store
        self._relay = relay
        self._box = box
        self._session = session
        self._timeout = timeout

    async def record(
        self, provider_type: str, provider_id: int, receipt: ReceivedReceipt, *, request_id: str
    ) -> RecordedReceipt:
        """Record one receipt posted for ``provider_id``; a ReceiverError when it is refused."""
        try:
            recorded = await self._record(provider_type, provider_id, receipt, request_id)
        except errors.ReceiverError as exc:
            metrics.SMS_RECEIPTS.labels(provider_type, exc.slug).inc()
            raise
        result = "repeat" if recorded.delivery is None else recorded.delivery.value
        metrics.SMS_RECEIPTS.labels(provider_type, result).inc()
        return recorded

    async def _record(
        self, provider_type: str, provider_id: int, receipt: ReceivedReceipt, request_id: str
    ) -> RecordedReceipt:
        reader = await self._reader(provider_type, provider_id)
        try:
            report = reader.read(receipt)
        except ReceiptNotAuthentic as exc:
            raise errors.ReceiptNotAuthentic(exc.reason) from None
        except InvalidReceipt as exc:
            raise errors.InvalidPayload(exc.reason) from None
        async with self._store.reading() as connection:
            attempt = await sms_deliveries.receipt_attempt(
                connection,
                provider_id=provider_id,
                provider_message_id=report.provider_message_id,
                reference=report.reference,
            )
        if attempt is None:
            raise errors.UnknownReceipt(NO_MATCH)
        structlog.contextvars.bind_contextvars(
            verification_call_uuid=attempt.verification_call_uuid,
            provider_message_id=report.provider_message_id,
        )
        try:
            report = await reader.confirm(report)
        except ReceiptUnconfirmed as exc:
            raise errors.UpstreamError(f"{exc.reason}; send the receipt again later") from None
        return await self._apply(attempt, report, request_id)

    async def _reader(self, provider_type: str, provider_id: int) -> ReceiptReader:
        """The provider's receipt reader, or the refusal a receipt of an unknown one gets."""
        config = None
        if 0 < provider_id <= _MAX_PROVIDER_ID:
            async with self._store.reading() as connection:
                config = await confirmations.provider_config(connection, self._box, provider_id)
        if config is not None and config.provider.casefold() == provider_type:
            reason = config.unusable
            if reason is None:
                try:
                    return build_receipt_reader(
                        config.provider, config.options, self._session, timeout=self._timeout
                    )
                except PermanentSmsError as exc:
                    reason = exc.reason
            # The sender gets the same answer as for no such provider; operators see why.
            log.warning("sms.receipt_unverifiable", provider_id=provider_id, reason=reason)
        if signs_receipts(provider_type):
            raise errors.ReceiptNotAuthentic(NOT_VERIFIED)
        raise errors.UnknownReceipt(NO_MATCH)

    async def _apply(
        self, attempt: SmsAttempt, report: DeliveryReport, request_id: str
    ) -> RecordedReceipt:
        now = dt.datetime.now(dt.UTC)
        event, failover = None, False
        async with self._store.transaction() as tx:
            updated = await sms_deliveries.record_delivery(tx.connection, attempt, report, now=now)
            if updated is not None and report.delivery.final:
                event = password_call_sms_delivery_event(updated, correlation_id=request_id)
                await tx.add_outbox_events([event])
            if updated is not None and report.delivery is Delivery.UNDELIVERED:
                failover = await sms_deliveries.queue_failover(
                    tx.connection, attempt.verification_call_uuid, now=now
                )
        if event is not None:
            await self._relay.publish([event])
        delivery = None if updated is None else report.delivery
        structlog.contextvars.bind_contextvars(
            sms_delivery=None if delivery is None else delivery.value,
            sms_delivery_status=report.status,
            sms_failover_queued=failover,
        )
        if failover:
            log.info("sms.failover_queued", verification_call_uuid=attempt.verification_call_uuid)
        return RecordedReceipt(
            attempt=updated or attempt, delivery=delivery, failover_queued=failover
        )

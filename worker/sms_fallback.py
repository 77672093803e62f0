"""The SMS fallback: when a call did not get through, send its code by SMS, once per call."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import aiohttp
import structlog

from confirmhub import metrics
from confirmhub.crypto import SecretsBox, SecretsKeyMissing
from confirmhub.db import verification
from confirmhub.db.confirmations import best_template, enabled_providers, render_template
from confirmhub.db.store import PasswordCallRecord, Store
from confirmhub.events import password_call_sms_event
from confirmhub.outbox import OutboxRelay
from worker.sms import PermanentSmsError, RetryableSmsError, SmsMessage, build_sender

log = structlog.get_logger("confirmhub.worker")


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one fallback SMS ended."""

    sent: bool
    provider: str | None = None
    provider_message_id: str | None = None
    error: str | None = None


class SmsFallback:
    """Sends a call's code through the enabled providers in priority order.

    Policy: a retryable error (timeout, 5xx, throttling) fails over to the next provider;
    a permanent one (credentials, invalid number) ends the attempt, since the next provider
    would be refused the same number and an operator must look. The SMS is claimed in the
    database before sending, so a redelivered CDR or a second worker never sends it twice.
    """

    def __init__(
        self,
        *,
        store: Store,
        box: SecretsBox,
        session: aiohttp.ClientSession,
        relay: OutboxRelay,
        timeout: float,
    ) -> None:
        self._store = store
        self._box = box
        self._session = session
        self._relay = relay
        self._timeout = timeout

    async def send(self, verification_call_uuid: str) -> None:
        """Send the call's SMS if it is due and not taken by another worker."""
        async with self._store.transaction() as tx:
            record = await verification.claim_sms(
                tx.connection, verification_call_uuid, now=dt.datetime.now(dt.UTC)
            )
        if record is None:
            return
        delivery = await self._deliver(record)
        async with self._store.transaction() as tx:
            finished = await verification.finish_sms(
                tx.connection,
                verification_call_uuid,
                outcome="sent" if delivery.sent else "failed",
                provider=delivery.provider,
                provider_message_id=delivery.provider_message_id,
                error=delivery.error,
                now=dt.datetime.now(dt.UTC),
            )
            event = None if finished is None else password_call_sms_event(finished)
            if event is not None:
                await tx.add_outbox_events([event])
        structlog.contextvars.bind_contextvars(
            sms_sent=delivery.sent, sms_provider=delivery.provider, sms_error=delivery.error
        )
        if event is not None:
            await self._relay.publish([event])

    async def _deliver(self, record: PasswordCallRecord) -> Delivery:
        assert record.code_encrypted is not None
        assert record.phone_number is not None
        try:
            code = self._box.decrypt(record.code_encrypted)
        except SecretsKeyMissing as exc:
            return Delivery(sent=False, error=f"code unavailable: {exc}")
        async with self._store.reading() as connection:
            providers = await enabled_providers(connection, self._box)
            template = await best_template(connection)
        if not providers:
            return Delivery(sent=False, error="no enabled SMS provider")
        if template is None:
            return Delivery(sent=False, error="no enabled confirmation template")
        message = SmsMessage(
            to=record.phone_number, body=render_template(template, locale=record.locale, code=code)
        )
        errors: list[str] = []
        for provider in providers:
            try:
                sender = build_sender(
                    provider.provider, provider.options, self._session, timeout=self._timeout
                )
                receipt = await sender.send(message)
            except RetryableSmsError as exc:
                metrics.SMS_SENDS.labels(provider.name, "retryable_error").inc()
                log.warning("sms.failover", provider=provider.name, reason=exc.reason)
                errors.append(f"{provider.name}: {exc.reason}")
                continue
            except PermanentSmsError as exc:
                metrics.SMS_SENDS.labels(provider.name, "permanent_error").inc()
                errors.append(f"{provider.name}: {exc.reason}")
                return Delivery(sent=False, provider=provider.name, error="; ".join(errors))
            metrics.SMS_SENDS.labels(provider.name, "sent").inc()
            return Delivery(
                sent=True, provider=provider.name, provider_message_id=receipt.provider_message_id
            )
        return Delivery(sent=False, error="; ".join(errors))

    async def send_due(self, interval: float) -> None:
        """Forever: send SMS queued elsewhere (an initiation after its CDR) or left half-sent."""
        while True:
            try:
                async with self._store.reading() as connection:
                    due = await verification.due_sms(connection, now=dt.datetime.now(dt.UTC))
                for verification_call_uuid in due:
                    await self.send(verification_call_uuid)
            except Exception as exc:
                log.warning("sms.sweep_failed", error_type=type(exc).__name__)
            await asyncio.sleep(interval)

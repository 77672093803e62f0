"""The SMS fallback: when a call did not get through, send its code by SMS, at most once."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence

import aiohttp
import structlog

from confirmhub import metrics
from confirmhub.crypto import SecretsBox, SecretsKeyMissing
from confirmhub.db import sms_attempts, sms_deliveries, verification
from confirmhub.db.confirmations import (
    SmsProviderConfig,
    best_template,
    enabled_providers,
    render_template,
)
from confirmhub.db.sms_attempts import FINAL_STATES, AttemptState, SmsAttempt
from confirmhub.db.store import PasswordCallRecord, Store
from confirmhub.events import password_call_sms_event
from confirmhub.guards import Rate
from confirmhub.outbox import OutboxRelay
from confirmhub.sms import (
    PermanentSmsError,
    SmsError,
    SmsMessage,
    SmsSender,
    build_sender,
    receipt_url,
)
from worker.consumer import describe_error
from worker.sms_delivery import SEND_RESULTS, Delivery, attempt_state, delivery_of
from worker.sms_limits import take_sms_limit

log = structlog.get_logger("confirmhub.worker")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SmsFallback:
    """Sends a call's code through the enabled providers in priority order, at most once; and
    once more, through a provider not asked yet, when a receipt says the first went undelivered
    (a failover: the call's second send round, under the same discipline).

    The SMS is claimed in the database under a lease (renewed at each attempt) and a fencing
    token, and every provider request is recorded as an attempt before it goes out.

    Sending policy, by how a request ends:
    - accepted (a 2xx with a message id) → ``sent``, with the provider's message id;
    - not taken, retryable (no connection, 429, 5xx, throttling) → the next provider; each
      is tried once per call, so a resumed SMS skips those that failed already;
    - refused (credentials, number, request, account) → ``failed``; no other provider tries:
      it would be refused the same number, and an operator must look;
    - unconfirmed (the request went out and no readable answer came back: a timeout, a
      dropped connection, a 2xx whose body cannot be read) → ``failed``, the error saying the
      SMS may have been sent; never sent again anywhere: better one missing SMS than two;
    - a provider that cannot be used (invalid options, secrets that do not decrypt) →
      skipped without a request.

    Before a round's first request, ``sms_rates`` (per number) must allow it, or the SMS ends
    ``failed`` naming the limit, with no request (worker/sms_limits.py).

    With ``public_url`` set, each request asks its provider for delivery receipts, naming the
    attempt as its reference where the provider can carry one.

    And by what goes wrong around the request:
    - recording the attempt fails → no request is made; the sweep resumes the SMS once
      the lease has run out;
    - the worker dies, or recording the outcome fails, after the request went out → the
      attempt stays ``sending``; the next claim (after the lease) marks it ``unconfirmed``
      and ends the SMS as above, without a request;
    - a send outlives its lease → the next claim fences the slow worker out: it still records
      what its provider answered, but makes no further request and finishes nothing;
    - finishing fails once the outcome is recorded → the next claim finishes the SMS from
      its attempts, without a request;
    - the verification is canceled → a queued SMS is dropped and none is claimed; one being
      sent records its request in flight and makes no other: taken, it ends ``sent`` as
      usual; otherwise it ends ``canceled``, without an event.
    """

    def __init__(
        self,
        *,
        store: Store,
        box: SecretsBox,
        session: aiohttp.ClientSession,
        relay: OutboxRelay,
        timeout: float,
        lease: float,
        public_url: str | None = None,
        sms_rates: Sequence[Rate] = (),
    ) -> None:
        self._store = store
        self._box = box
        self._session = session
        self._relay = relay
        self._timeout = timeout
        self._lease = dt.timedelta(seconds=lease)
        self._public_url = public_url
        self._sms_rates = tuple(sms_rates)

    async def send(self, verification_call_uuid: str) -> Delivery | None:
        """Send the call's SMS if it is due and no other worker holds it; how it ended, or
        None if it was not this worker's to send or finish."""
        now = _now()
        async with self._store.transaction() as tx:
            record = await verification.claim_sms(
                tx.connection, verification_call_uuid, now=now, lease=self._lease
            )
            if record is None:
                return None
            interrupted = await sms_attempts.interrupt_attempts(
                tx.connection, verification_call_uuid, now=now
            )
            attempts = await sms_attempts.call_attempts(tx.connection, verification_call_uuid)
            refusal = await take_sms_limit(tx.connection, record, self._sms_rates, now=now)
        if interrupted:
            log.warning("sms.attempt_interrupted", verification_call_uuid=verification_call_uuid)
        if refusal is not None:
            delivery: Delivery | None = Delivery(sent=False, error=refusal)
        else:
            delivery = await self._deliver(record, attempts)
        if delivery is not None and await self._finish(record, delivery):
            return delivery
        async with self._store.transaction() as tx:
            dropped = await verification.drop_canceled_sms(
                tx.connection, verification_call_uuid, claim=record.sms_claim, now=_now()
            )
        if dropped:
            log.info("sms.canceled", verification_call_uuid=verification_call_uuid)
            return None
        # Our lease ran out and another worker took the SMS over: it is theirs to end.
        log.warning("sms.claim_lost", verification_call_uuid=verification_call_uuid)
        return None

    async def _deliver(
        self, record: PasswordCallRecord, attempts: list[SmsAttempt]
    ) -> Delivery | None:
        # This round's attempts decide how it ends; every round's providers are spent.
        current = [attempt for attempt in attempts if attempt.send_round == record.sms_round]
        if any(attempt.state in FINAL_STATES for attempt in current):
            # Decided under an earlier claim whose finish was lost: finish it, send nothing.
            return delivery_of(current)
        prepared = await self._prepare(record)
        if isinstance(prepared, Delivery):
            return prepared
        message, providers = prepared
        tried = {attempt.provider_id for attempt in attempts}
        skipped: list[str] = []
        for provider in providers:
            if provider.id in tried:
                continue
            sender = self._sender(provider)
            if isinstance(sender, str):
                metrics.SMS_SENDS.labels(provider.name, "unusable").inc()
                log.warning("sms.provider_skipped", provider=provider.name, reason=sender)
                skipped.append(f"{provider.name}: {sender}")
                continue
            attempt = await self._start(record, provider, attempt_no=len(attempts) + 1)
            if attempt is None:
                return None
            attempt = await self._attempt(attempt, sender, self._addressed(message, attempt))
            attempts.append(attempt)
            current.append(attempt)
            if attempt.state in FINAL_STATES:
                break
        return delivery_of(current, skipped)

    def _addressed(self, message: SmsMessage, attempt: SmsAttempt) -> SmsMessage:
        """``message`` asking for receipts for this attempt, when providers can reach us."""
        if self._public_url is None:
            return message
        url = receipt_url(self._public_url, attempt.provider_type, attempt.provider_id)
        return dataclasses.replace(message, receipt_url=url, reference=attempt.attempt_id)

    async def _prepare(
        self, record: PasswordCallRecord
    ) -> tuple[SmsMessage, list[SmsProviderConfig]] | Delivery:
        """The message and the providers to try, or the Delivery that fails without them."""
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
        body = render_template(template, locale=record.locale, code=code)
        return SmsMessage(to=record.phone_number, body=body), providers

    def _sender(self, provider: SmsProviderConfig) -> SmsSender | str:
        """The provider's sender, or why it cannot send."""
        if provider.unusable is not None:
            return provider.unusable
        try:
            return build_sender(
                provider.provider, provider.options, self._session, timeout=self._timeout
            )
        except PermanentSmsError as exc:
            return exc.reason

    async def _start(
        self, record: PasswordCallRecord, provider: SmsProviderConfig, *, attempt_no: int
    ) -> SmsAttempt | None:
        async with self._store.transaction() as tx:
            return await sms_attempts.start_attempt(
                tx.connection,
                record.verification_call_uuid,
                claim=record.sms_claim,
                attempt_no=attempt_no,
                send_round=record.sms_round,
                provider_id=provider.id,
                provider_name=provider.name,
                provider_type=provider.provider,
                now=_now(),
            )

    async def _attempt(
        self, attempt: SmsAttempt, sender: SmsSender, message: SmsMessage
    ) -> SmsAttempt:
        """Make the attempt's one request and record how it ended."""
        message_id = error = None
        state: AttemptState = "accepted"
        try:
            message_id = (await sender.send(message)).provider_message_id
        except SmsError as exc:
            state, error = attempt_state(exc), exc.reason
        metrics.SMS_SENDS.labels(attempt.provider_name, SEND_RESULTS[state]).inc()
        if state == "failed":
            log.warning("sms.failover", provider=attempt.provider_name, reason=error)
        elif state == "unconfirmed":
            log.warning("sms.unconfirmed", provider=attempt.provider_name, reason=error)
        async with self._store.transaction() as tx:
            return await sms_attempts.settle_attempt(
                tx.connection,
                attempt,
                state=state,
                provider_message_id=message_id,
                error=error,
                now=_now(),
            )

    async def _finish(self, record: PasswordCallRecord, delivery: Delivery) -> bool:
        """Record the SMS's end and its event under this claim; False if it is no longer ours."""
        failover = False
        async with self._store.transaction() as tx:
            finished = await verification.finish_sms(
                tx.connection,
                record.verification_call_uuid,
                claim=record.sms_claim,
                outcome="sent" if delivery.sent else "failed",
                provider=delivery.provider,
                provider_message_id=delivery.provider_message_id,
                error=delivery.error,
                now=_now(),
            )
            event = None if finished is None else password_call_sms_event(finished)
            if event is not None:
                await tx.add_outbox_events([event])
                # A receipt may have said undelivered before this finish: the failover it
                # could not queue then is queued now.
                failover = await sms_deliveries.queue_failover(
                    tx.connection, record.verification_call_uuid, now=_now()
                )
        if event is None:
            return False
        if failover:
            log.info("sms.failover_queued", verification_call_uuid=record.verification_call_uuid)
        structlog.contextvars.bind_contextvars(
            sms_sent=delivery.sent, sms_provider=delivery.provider, sms_error=delivery.error
        )
        await self._relay.publish([event])
        return True

    async def send_due(self, interval: float) -> None:
        """Forever: send SMS queued elsewhere (an initiation after its CDR), and take over those
        whose worker's lease ran out; one SMS failing holds up none of the others."""
        while True:
            try:
                async with self._store.reading() as connection:
                    due = await verification.due_sms(connection, now=_now(), lease=self._lease)
            except Exception as exc:
                log.warning("sms.sweep_failed", error_type=type(exc).__name__)
                due = []
            for verification_call_uuid in due:
                # This task's own context: each SMS's fields describe it alone.
                structlog.contextvars.clear_contextvars()
                try:
                    delivery = await self.send(verification_call_uuid)
                except Exception as exc:
                    log.warning(
                        "sms.send_failed",
                        verification_call_uuid=verification_call_uuid,
                        error=describe_error(exc),
                    )
                    continue
                if delivery is not None:
                    log.info("sms.swept", verification_call_uuid=verification_call_uuid)
            await asyncio.sleep(interval)

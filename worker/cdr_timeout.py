"""The CDR timeout: calls whose CDR never came end with outcome ``no_cdr``, once."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt

import structlog

from confirmhub import metrics
from confirmhub.db.call_endings import end_calls_without_cdr
from confirmhub.db.store import Store
from confirmhub.events import password_call_outcome_event
from confirmhub.outbox import OutboxRelay
from schemas.events import CallOutcome
from worker.consumer import describe_error
from worker.sms_fallback import SmsFallback

log = structlog.get_logger("confirmhub.worker")


class CdrTimeoutSweep:
    """Ends calls still without a CDR ``timeout`` after they were placed.

    Policy, by what happens:
    - a call past its timeout → outcome ``no_cdr``, ``password_call.no_cdr`` in the outbox in
      the same transaction, and the SMS fallback queued when ``no_cdr`` is among the fallback
      outcomes; the event is published and the SMS sent right after the commit;
    - several workers sweeping → each call is ended by exactly one of them: the ending is
      one conditional update, and only the rows it changed get an event;
    - publishing or sending fails after the commit → the outbox sweep republishes the event,
      and the SMS sweep sends the queued SMS;
    - the sweep's transaction fails → nothing changed; the next tick tries again;
    - a CDR that comes later → stored, nothing published or sent (``worker.password_calls``).
    """

    def __init__(
        self,
        *,
        store: Store,
        relay: OutboxRelay,
        fallback: SmsFallback,
        timeout: float,
        sms_outcomes: frozenset[CallOutcome],
    ) -> None:
        self._store = store
        self._relay = relay
        self._fallback = fallback
        self._timeout = dt.timedelta(seconds=timeout)
        self._wants_sms = CallOutcome.NO_CDR in sms_outcomes

    async def sweep_once(self) -> int:
        """End every call past its timeout, a batch at a time; how many this sweep ended."""
        total = 0
        while True:
            ended = await self._end_batch()
            total += ended
            if ended == 0:
                return total

    async def _end_batch(self) -> int:
        now = dt.datetime.now(dt.UTC)
        async with self._store.transaction() as tx:
            calls = await end_calls_without_cdr(
                tx.connection,
                now=now,
                placed_before=now - self._timeout,
                wants_sms=self._wants_sms,
            )
            events = [
                password_call_outcome_event(call.record, correlation_id=None) for call in calls
            ]
            await tx.add_outbox_events(events)
        if events:
            await self._relay.publish(events)
        for call, event in zip(calls, events, strict=True):
            metrics.CALL_OUTCOMES.labels(CallOutcome.NO_CDR.value).inc()
            uuid = call.record.verification_call_uuid
            log.info(
                "password_call.no_cdr",
                verification_call_uuid=uuid,
                event_id=event.event_id,
                sms_queued=call.sms_queued,
            )
            if call.sms_queued:
                # Its own context: the SMS's log fields describe it alone.
                await asyncio.create_task(self._send_sms(uuid), context=contextvars.Context())
        return len(calls)

    async def _send_sms(self, verification_call_uuid: str) -> None:
        try:
            await self._fallback.send(verification_call_uuid)
        except Exception as exc:
            # Claimed or queued in the database: the SMS sweep takes it over.
            log.warning(
                "sms.send_deferred",
                verification_call_uuid=verification_call_uuid,
                error=describe_error(exc),
            )

    async def run(self, interval: float) -> None:
        """Forever: sweep, then wait ``interval``; a failed sweep is retried next tick."""
        while True:
            try:
                await self.sweep_once()
            except Exception as exc:
                log.warning("cdr_timeout.sweep_failed", error=describe_error(exc))
            await asyncio.sleep(interval)

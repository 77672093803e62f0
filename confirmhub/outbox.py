"""Publishing outbox events: right after commit, and again by a sweep for any left behind."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import structlog

from confirmhub import metrics
from confirmhub.broker import ConfirmingPublisher
from confirmhub.db.store import OutboxEvent, Store
from confirmhub.errors import PublishFailed
from schemas.events import EVENTS_EXCHANGE

log = structlog.get_logger("confirmhub.outbox")

# A row younger than this is probably still being published inline by its own handler.
_SWEEP_GRACE = dt.timedelta(seconds=5)
_SWEEP_BATCH = 500
# How much longer than a publish may take a sweep's claim lasts.
_CLAIM_MARGIN = dt.timedelta(seconds=30)
# How long confirmed events wait for a batch's transaction to mark them before one of their
# own does: under load the next batch comes first, and the marks cost no transaction.
_MARK_DELAY = 0.1


class OutboxRelay:
    """Moves committed events from the outbox to the events exchange."""

    def __init__(self, store: Store, publisher: ConfirmingPublisher) -> None:
        self._store = store
        self._publisher = publisher
        # Confirmed events whose mark is still to be written, and the task writing marks.
        self._unmarked: list[str] = []
        self._marking: asyncio.Task[None] | None = None

    async def _publish(self, event: OutboxEvent) -> None:
        await self._publisher.publish(
            exchange=EVENTS_EXCHANGE,
            routing_key=event.routing_key,
            body=event.body,
            message_id=event.event_id,
            # Consumers bind their own queues; with none bound an event has no audience.
            mandatory=False,
            message_type=event.routing_key,
            correlation_id=event.correlation_id,
        )
        metrics.EVENTS_PUBLISHED.labels(event.routing_key).inc()

    async def _publish_all(self, events: Sequence[OutboxEvent]) -> list[str]:
        """Publish concurrently; the ids the broker confirmed (refused ones stay for later)."""
        results = await asyncio.gather(
            *(self._publish(event) for event in events), return_exceptions=True
        )
        for result in results:
            if isinstance(result, PublishFailed):
                log.warning("outbox.publish_deferred", error=str(result))
            elif isinstance(result, BaseException):
                raise result
        return [event.event_id for event, result in zip(events, results, strict=True) if not result]

    async def publish(self, events: Sequence[OutboxEvent]) -> int:
        """Publish events just committed, and mark those confirmed."""
        done = await self._publish_all(events)
        await self._store.mark_published(done, now=dt.datetime.now(dt.UTC))
        return len(done)

    async def publish_marking_later(self, events: Sequence[OutboxEvent]) -> int:
        """Publish events just committed; their marks are written later, not waited for.

        For the worker's hot path: the next batch's transaction takes the marks pending
        (``take_unmarked``), and what no batch took within ``_MARK_DELAY`` is written by a
        transaction of its own. A mark written late or lost (a crash, the database away)
        only means the sweep publishes the event again, with its id, after its grace.
        """
        done = await self._publish_all(events)
        self.mark_later(done)
        return len(done)

    def mark_later(self, event_ids: Sequence[str]) -> None:
        """Have confirmed events marked published soon (by a batch, or in the background)."""
        self._unmarked.extend(event_ids)
        if self._unmarked and (self._marking is None or self._marking.done()):
            self._marking = asyncio.create_task(self._write_marks())

    def take_unmarked(self) -> list[str]:
        """The confirmed events still to be marked, for a transaction about to start to mark
        (given back with ``mark_later`` if it fails)."""
        event_ids, self._unmarked = self._unmarked, []
        return event_ids

    async def _write_marks(self) -> None:
        while self._unmarked:
            await asyncio.sleep(_MARK_DELAY)
            event_ids = self.take_unmarked()
            if not event_ids:
                return
            try:
                await self._store.mark_published(event_ids, now=dt.datetime.now(dt.UTC))
            except Exception as exc:
                log.warning(
                    "outbox.mark_deferred", events=len(event_ids), error_type=type(exc).__name__
                )

    async def flush_marks(self) -> None:
        """Wait for the marks still pending to be written (on shutdown)."""
        while self._marking is not None and not self._marking.done():
            await asyncio.wait([self._marking])

    async def sweep_once(self) -> int:
        """Publish events older than the grace period still unpublished.

        The events are claimed in a short transaction first and published after it: the
        broker may take up to its confirm timeout, and no database lock is held meanwhile
        (on SQLite that would block every other writer). Events left unconfirmed are
        released for the next sweep; a sweep that dies holding claims delays its events by
        the claim's length, after which any sweep takes them.
        """
        now = dt.datetime.now(dt.UTC)
        claim_length = dt.timedelta(seconds=self._publisher.confirm_timeout) + _CLAIM_MARGIN
        async with self._store.transaction() as tx:
            events = await tx.claim_unpublished_events(
                created_before=now - _SWEEP_GRACE,
                limit=_SWEEP_BATCH,
                now=now,
                until=now + claim_length,
            )
        if not events:
            metrics.OUTBOX_BACKLOG.set(0)
            return 0
        done = await self._publish_all(events)
        confirmed = set(done)
        async with self._store.transaction() as tx:
            await tx.mark_published(done, now=dt.datetime.now(dt.UTC))
            await tx.release_claims([e.event_id for e in events if e.event_id not in confirmed])
        metrics.OUTBOX_BACKLOG.set(await self._store.count_unpublished())
        log.info("outbox.swept", found=len(events), published=len(done))
        return len(done)

    async def run(self, interval: float) -> None:
        """Sweep forever; failures are logged and retried at the next tick."""
        while True:
            try:
                await self.sweep_once()
            except Exception as exc:
                log.warning("outbox.sweep_failed", error_type=type(exc).__name__)
            await asyncio.sleep(interval)

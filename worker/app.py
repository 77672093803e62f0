"""The worker's entry: open connections, consume the inbound queues, relay the outbox."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial

import aiohttp
import structlog
from pydantic import ValidationError

from confirmhub.batching import Coalescer
from confirmhub.broker import BITRIX24_QUEUE, MCN_CDR_QUEUE, WORKER_QUEUES, ConfirmingPublisher
from confirmhub.crypto import SecretsBox
from confirmhub.db.store import Store
from confirmhub.outbox import OutboxRelay
from confirmhub.resources import open_broker, open_database
from confirmhub.settings import Settings
from schemas.bitrix24 import InboundMethodConfirm
from schemas.inbound import CDR_MESSAGES, METHOD_CONFIRM_MESSAGES, InboundCdr, InboundCodec, Item
from worker.cdr_timeout import CdrTimeoutSweep
from worker.consumer import Consumer, describe_error
from worker.consuming import QueueConsumers
from worker.errors import SplitMessage
from worker.method_confirmations import record_method_decision
from worker.password_calls import CdrRecorded, record_cdrs
from worker.sms_fallback import SmsFallback

log = structlog.get_logger("confirmhub.worker")

_DRAIN_TIMEOUT = 15.0
# Deliveries recorded in one transaction at most (a batch is what arrived while the last
# one ran, so the prefetch bounds it too).
_MAX_BATCH = 256


MessageHandler = Callable[[bytes], Awaitable[None]]


def decode_items(codec: InboundCodec[Item], body: bytes) -> list[Item]:
    """A message's items; SplitMessage if a batch is invalid as a whole, so that each item is
    decoded (and, if invalid, dead-lettered) alone instead of taking its neighbours with it."""
    try:
        return codec.decode(body)
    except ValidationError as exc:
        parts = codec.parts(body)
        if parts:
            raise SplitMessage(parts) from exc
        raise


def queue_handlers(
    store: Store, relay: OutboxRelay, fallback: SmsFallback, settings: Settings
) -> dict[str, MessageHandler]:
    """The handler of each worker queue: decode, record in one transaction, publish."""

    async def record_and_publish(
        deliveries: Sequence[Sequence[InboundCdr]],
    ) -> list[list[CdrRecorded] | Exception]:
        """Record the CDRs of several deliveries in one transaction, then publish their events."""
        now = dt.datetime.now(dt.UTC)
        record = partial(
            record_cdrs, store=store, now=now, sms_outcomes=settings.sms_fallback_outcomes
        )
        results: list[list[CdrRecorded] | Exception] = []
        # Earlier batches' confirmed events are marked in this transaction: no extra one.
        published = relay.take_unmarked()
        try:
            all_cdrs = [cdr for cdrs in deliveries for cdr in cdrs]
            recorded = iter(await record(all_cdrs, published=published))
            results.extend([next(recorded) for _ in cdrs] for cdrs in deliveries)
        except Exception as exc:
            relay.mark_later(published)
            if len(deliveries) == 1:
                raise
            # One delivery may be what failed the batch: give each its own transaction, so
            # that only that one is retried or dead-lettered.
            log.warning("cdr_batch.split", deliveries=len(deliveries), error=describe_error(exc))
            for cdrs in deliveries:
                try:
                    results.append(await record(cdrs))
                except Exception as single_exc:
                    results.append(single_exc)
        events = [
            item.event
            for result in results
            if not isinstance(result, Exception)
            for item in result
            if item.event is not None
        ]
        if events:
            # The ack waits for the commit and the confirms, not for the published marks.
            await relay.publish_marking_later(events)
        return results

    async def send_sms(verification_call_uuid: str) -> None:
        try:
            await fallback.send(verification_call_uuid)
        except Exception as exc:
            # Claimed in the database: the SMS sweep takes it over; retrying the CDR would not
            # (a recorded CDR is a duplicate and queues nothing).
            log.warning(
                "sms.send_deferred",
                verification_call_uuid=verification_call_uuid,
                error=describe_error(exc),
            )

    # Three batches at once: while one is read and written, the others' commits are flushed
    # and their events await the broker's confirms, so no delivery waits on one round trip.
    cdr_batches = Coalescer(record_and_publish, max_size=_MAX_BATCH, max_concurrent=3)

    async def handle_mcn_cdr(body: bytes) -> None:
        cdrs = decode_items(CDR_MESSAGES, body)
        uuids = [message.cdr.verification_call_uuid for message in cdrs]
        if len(cdrs) == 1:
            structlog.contextvars.bind_contextvars(verification_call_uuid=uuids[0])
            [recorded] = await cdr_batches(cdrs)
            structlog.contextvars.bind_contextvars(**recorded.log_fields)
            if recorded.sms_queued:
                await send_sms(uuids[0])
            return
        # Several CDRs the receiver queued together.
        structlog.contextvars.bind_contextvars(cdrs=len(cdrs), verification_call_uuids=uuids[:20])
        try:
            results = await cdr_batches(cdrs)
        except Exception as exc:
            raise SplitMessage([CDR_MESSAGES.encode_item(message) for message in cdrs]) from exc
        structlog.contextvars.bind_contextvars(
            events=sum(result.event is not None for result in results)
        )
        for uuid, result in zip(uuids, results, strict=True):
            if result.sms_queued:
                await send_sms(uuid)

    async def record_decision(message: InboundMethodConfirm) -> None:
        event = await record_method_decision(message, store, now=dt.datetime.now(dt.UTC))
        if event is not None:
            await relay.publish([event])

    async def handle_method_confirm(body: bytes) -> None:
        messages = decode_items(METHOD_CONFIRM_MESSAGES, body)
        if len(messages) == 1:
            await record_decision(messages[0])
            return
        # Several events the receiver queued together: each in a context of its own, so that
        # the fields it binds describe it alone (in its own log lines, not the message's).
        structlog.contextvars.bind_contextvars(method_confirmations=len(messages))
        try:
            for message in messages:
                await asyncio.create_task(
                    record_decision(message), context=contextvars.copy_context()
                )
        except Exception as exc:
            raise SplitMessage(
                [METHOD_CONFIRM_MESSAGES.encode_item(message) for message in messages]
            ) from exc

    return {MCN_CDR_QUEUE: handle_mcn_cdr, BITRIX24_QUEUE: handle_method_confirm}


@asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[None]:
    """Consume until the block exits, then stop taking messages and settle those in flight."""
    async with (
        open_database(settings) as engine,
        open_broker(settings, role="worker") as broker,
        # A fresh connection per SMS: a POST on a pooled connection the provider has just
        # closed fails after it may have been sent, and such a send is never repeated.
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
    ):
        store = Store(engine)
        publisher = ConfirmingPublisher(broker, confirm_timeout=settings.publish_confirm_timeout)
        relay = OutboxRelay(store, publisher)
        fallback = SmsFallback(
            store=store,
            box=SecretsBox(settings.secrets_key),
            session=http,
            relay=relay,
            timeout=settings.sms_timeout,
            lease=settings.sms_claim_lease,
            public_url=settings.public_url,
            sms_rates=settings.sms_number_rates,
        )
        consumers = QueueConsumers(
            broker,
            {
                queue_name: Consumer(
                    queue_name=queue_name,
                    handler=handler,
                    publisher=publisher,
                    retry_delays=settings.worker_retry_delays,
                    max_attempts=settings.worker_max_attempts,
                )
                for queue_name, handler in queue_handlers(store, relay, fallback, settings).items()
            },
            prefetch=settings.worker_prefetch,
            retry_delays=settings.worker_retry_delays,
        )
        await consumers.start()
        cdr_timeout = CdrTimeoutSweep(
            store=store,
            relay=relay,
            fallback=fallback,
            timeout=settings.cdr_timeout_seconds,
            sms_outcomes=settings.sms_fallback_outcomes,
        )
        background = [
            asyncio.create_task(relay.run(settings.outbox_relay_interval)),
            asyncio.create_task(fallback.send_due(settings.sms_resume_interval)),
            asyncio.create_task(cdr_timeout.run(settings.cdr_sweep_interval)),
        ]
        log.info(
            "worker.started",
            queues=list(WORKER_QUEUES),
            prefetch=settings.worker_prefetch,
            broker_node=broker.node.name if broker.node else None,
        )
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await consumers.stop(grace=_DRAIN_TIMEOUT)
            await asyncio.gather(*background, return_exceptions=True)
            await relay.flush_marks()
            log.info("worker.stopped")

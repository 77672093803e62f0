"""The worker's entry: open connections, consume the inbound queues, relay the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog

from confirmhub.broker import MCN_CDR_QUEUE, ConfirmingPublisher
from confirmhub.db.store import Store
from confirmhub.resources import open_broker, open_database
from confirmhub.settings import Settings
from schemas.inbound import InboundCdr
from worker.consumer import Consumer
from worker.outbox import OutboxRelay
from worker.password_calls import record_cdr

log = structlog.get_logger("confirmhub.worker")

_DRAIN_TIMEOUT = 15.0


def mcn_cdr_handler(store: Store, relay: OutboxRelay) -> Callable[[bytes], Awaitable[None]]:
    """The handler for ``mcn.password_call.cdr`` messages."""

    async def handle(body: bytes) -> None:
        message = InboundCdr.model_validate_json(body)
        event = await record_cdr(message, store, now=dt.datetime.now(dt.UTC))
        if event is not None:
            await relay.publish([event])

    return handle


@asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[None]:
    """Consume until the block exits, then stop taking messages and settle those in flight."""
    async with open_database(settings) as engine, open_broker(settings) as connection:
        store = Store(engine)
        publisher = ConfirmingPublisher(
            await connection.channel(publisher_confirms=True),
            confirm_timeout=settings.publish_confirm_timeout,
        )
        relay = OutboxRelay(store, publisher)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=settings.worker_prefetch)
        queue = await channel.get_queue(MCN_CDR_QUEUE, ensure=False)
        consumer = Consumer(
            queue_name=MCN_CDR_QUEUE, handler=mcn_cdr_handler(store, relay), publisher=publisher
        )
        consumer_tag = await queue.consume(consumer.on_message)
        sweeper = asyncio.create_task(relay.run(settings.outbox_relay_interval))
        log.info("worker.started", queue=MCN_CDR_QUEUE, prefetch=settings.worker_prefetch)
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(Exception):
                await queue.cancel(consumer_tag)
            await consumer.drain(grace=_DRAIN_TIMEOUT)
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            # Closing the channel returns any unacknowledged message to the queue.
            await channel.close()
            log.info("worker.stopped")

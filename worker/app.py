"""The worker's entry: open connections, consume the inbound queues, relay the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from aio_pika.abc import AbstractQueue

from confirmhub.broker import BITRIX24_QUEUE, MCN_CDR_QUEUE, WORKER_QUEUES, ConfirmingPublisher
from confirmhub.db.store import Store
from confirmhub.resources import open_broker, open_database
from confirmhub.settings import Settings
from schemas.bitrix24 import InboundMethodConfirm
from schemas.inbound import InboundCdr
from worker.consumer import Consumer
from worker.method_confirmations import record_method_decision
from worker.outbox import OutboxRelay
from worker.password_calls import record_cdr

log = structlog.get_logger("confirmhub.worker")

_DRAIN_TIMEOUT = 15.0


MessageHandler = Callable[[bytes], Awaitable[None]]


def queue_handlers(store: Store, relay: OutboxRelay) -> dict[str, MessageHandler]:
    """The handler of each worker queue: decode, record in one transaction, publish."""

    async def handle_mcn_cdr(body: bytes) -> None:
        message = InboundCdr.model_validate_json(body)
        event = await record_cdr(message, store, now=dt.datetime.now(dt.UTC))
        if event is not None:
            await relay.publish([event])

    async def handle_method_confirm(body: bytes) -> None:
        message = InboundMethodConfirm.model_validate_json(body)
        event = await record_method_decision(message, store, now=dt.datetime.now(dt.UTC))
        if event is not None:
            await relay.publish([event])

    return {MCN_CDR_QUEUE: handle_mcn_cdr, BITRIX24_QUEUE: handle_method_confirm}


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
        consumers: list[tuple[AbstractQueue, str, Consumer]] = []
        for queue_name, handler in queue_handlers(store, relay).items():
            queue = await channel.get_queue(queue_name, ensure=False)
            consumer = Consumer(queue_name=queue_name, handler=handler, publisher=publisher)
            consumers.append((queue, await queue.consume(consumer.on_message), consumer))
        sweeper = asyncio.create_task(relay.run(settings.outbox_relay_interval))
        log.info("worker.started", queues=list(WORKER_QUEUES), prefetch=settings.worker_prefetch)
        try:
            yield
        finally:
            sweeper.cancel()
            for queue, consumer_tag, _ in consumers:
                with contextlib.suppress(Exception):
                    await queue.cancel(consumer_tag)
            for _, _, consumer in consumers:
                await consumer.drain(grace=_DRAIN_TIMEOUT)
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            # Closing the channel returns any unacknowledged message to the queue.
            await channel.close()
            log.info("worker.stopped")

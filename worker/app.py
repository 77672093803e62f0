"""The worker's entry: open connections, consume the inbound queues, relay the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import structlog
from aio_pika.abc import AbstractQueue

from confirmhub.broker import BITRIX24_QUEUE, MCN_CDR_QUEUE, WORKER_QUEUES, ConfirmingPublisher
from confirmhub.crypto import SecretsBox
from confirmhub.db.store import Store
from confirmhub.outbox import OutboxRelay
from confirmhub.resources import open_broker, open_database
from confirmhub.settings import Settings
from schemas.bitrix24 import InboundMethodConfirm
from schemas.inbound import InboundCdr
from worker.consumer import Consumer
from worker.method_confirmations import record_method_decision
from worker.password_calls import record_cdr
from worker.sms_fallback import SmsFallback

log = structlog.get_logger("confirmhub.worker")

_DRAIN_TIMEOUT = 15.0


MessageHandler = Callable[[bytes], Awaitable[None]]


def queue_handlers(
    store: Store, relay: OutboxRelay, fallback: SmsFallback, settings: Settings
) -> dict[str, MessageHandler]:
    """The handler of each worker queue: decode, record in one transaction, publish."""

    async def handle_mcn_cdr(body: bytes) -> None:
        message = InboundCdr.model_validate_json(body)
        recorded = await record_cdr(
            message,
            store,
            now=dt.datetime.now(dt.UTC),
            sms_outcomes=settings.sms_fallback_outcomes,
        )
        if recorded is not None:
            await relay.publish([recorded.event])
            if recorded.sms_queued:
                await fallback.send(message.cdr.verification_call_uuid)

    async def handle_method_confirm(body: bytes) -> None:
        message = InboundMethodConfirm.model_validate_json(body)
        event = await record_method_decision(message, store, now=dt.datetime.now(dt.UTC))
        if event is not None:
            await relay.publish([event])

    return {MCN_CDR_QUEUE: handle_mcn_cdr, BITRIX24_QUEUE: handle_method_confirm}


@asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[None]:
    """Consume until the block exits, then stop taking messages and settle those in flight."""
    async with (
        open_database(settings) as engine,
        open_broker(settings) as connection,
        aiohttp.ClientSession() as http,
    ):
        store = Store(engine)
        publisher = ConfirmingPublisher(
            await connection.channel(publisher_confirms=True),
            confirm_timeout=settings.publish_confirm_timeout,
        )
        relay = OutboxRelay(store, publisher)
        fallback = SmsFallback(
            store=store,
            box=SecretsBox(settings.secrets_key),
            session=http,
            relay=relay,
            timeout=settings.sms_timeout,
        )
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=settings.worker_prefetch)
        consumers: list[tuple[AbstractQueue, str, Consumer]] = []
        for queue_name, handler in queue_handlers(store, relay, fallback, settings).items():
            # Declared (passively), not fetched: only a declared queue is restored with its
            # consumer when the robust connection comes back after a broker restart.
            queue = await channel.declare_queue(queue_name, passive=True)
            consumer = Consumer(
                queue_name=queue_name,
                handler=handler,
                publisher=publisher,
                retry_delays=settings.worker_retry_delays,
                max_attempts=settings.worker_max_attempts,
            )
            consumers.append((queue, await queue.consume(consumer.on_message), consumer))
        background = [
            asyncio.create_task(relay.run(settings.outbox_relay_interval)),
            asyncio.create_task(fallback.send_due(settings.sms_resume_interval)),
        ]
        log.info("worker.started", queues=list(WORKER_QUEUES), prefetch=settings.worker_prefetch)
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            for consumed, consumer_tag, _ in consumers:
                with contextlib.suppress(Exception):
                    await consumed.cancel(consumer_tag)
            for _, _, consumer in consumers:
                await consumer.drain(grace=_DRAIN_TIMEOUT)
            await asyncio.gather(*background, return_exceptions=True)
            # Closing the channel returns any unacknowledged message to the queue.
            await channel.close()
            log.info("worker.stopped")

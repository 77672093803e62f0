"""RabbitMQ: connecting, declaring the topology, and publishing with confirms."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Mapping, Sequence

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractRobustConnection,
    DeliveryMode,
    ExchangeType,
    FieldValue,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from pamqp.commands import Basic

from confirmhub import metrics
from confirmhub.errors import BrokerUnavailable, PublishFailed
from confirmhub.redact import redact_url
from confirmhub.settings import DEFAULT_RETRY_DELAYS
from schemas.bitrix24 import BITRIX24_METHOD_CONFIRM_ROUTING_KEY
from schemas.events import EVENTS_EXCHANGE
from schemas.inbound import INBOUND_EXCHANGE, MCN_CDR_ROUTING_KEY

DEAD_LETTER_EXCHANGE = "confirmhub.dead-letter"
DEAD_LETTER_QUEUE = "confirmhub.dead-letter"
MCN_CDR_QUEUE = "confirmhub.worker.mcn-cdr"
BITRIX24_QUEUE = "confirmhub.worker.bitrix24"
# A queue argument, so fixed: RabbitMQ refuses to redeclare a queue with another value.
DELIVERY_LIMIT = 10

# Worker queue name → the inbound routing keys it takes.
WORKER_QUEUES: Mapping[str, tuple[str, ...]] = {
    MCN_CDR_QUEUE: (MCN_CDR_ROUTING_KEY,),
    BITRIX24_QUEUE: (BITRIX24_METHOD_CONFIRM_ROUTING_KEY,),
}

BrokerHeaders = dict[str, FieldValue]


async def connect(url: str) -> AbstractRobustConnection:
    """Open a self-reconnecting connection; BrokerUnavailable with a clear message if down."""
    # aiormq logs a failed first attempt itself; the error below says it once, clearly.
    transport_log = logging.getLogger("aiormq.connection")
    transport_log.disabled = True
    try:
        return await aio_pika.connect_robust(
            url, timeout=10, client_properties={"connection_name": "confirmhub"}
        )
    except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
        raise BrokerUnavailable(
            f"cannot reach RabbitMQ at {redact_url(url)} ({type(exc).__name__}: {exc}); "
            "start it (rabbitmq-server -detached) or set CONFIRMHUB_AMQP_URL"
        ) from exc
    finally:
        transport_log.disabled = False


def retry_queue_name(queue: str, delay: float) -> str:
    """The queue where a message of ``queue`` waits ``delay`` seconds before its next attempt."""
    return f"{queue}.retry.{round(delay * 1000)}ms"


async def declare_topology(
    channel: AbstractChannel, *, retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS
) -> None:
    """Declare exchanges and worker queues; idempotent, so every process may call it."""
    inbound = await channel.declare_exchange(INBOUND_EXCHANGE, ExchangeType.TOPIC, durable=True)
    await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
    dead_letter = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, type=ExchangeType.FANOUT, durable=True
    )
    dead_queue = await channel.declare_queue(
        DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_queue.bind(dead_letter)
    for name, routing_keys in WORKER_QUEUES.items():
        queue = await channel.declare_queue(
            name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": DELIVERY_LIMIT,
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                # At-least-once dead-lettering needs reject-publish overflow.
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )
        for routing_key in routing_keys:
            await queue.bind(inbound, routing_key)
        for delay in retry_delays:
            # A message waits out the TTL here, then dead-letters straight back to its queue:
            # a delayed retry that costs no CPU. The delay is in the name, so changing the
            # configured delays declares new queues instead of clashing with the old ones.
            await channel.declare_queue(
                retry_queue_name(name, delay),
                durable=True,
                arguments={
                    "x-message-ttl": round(delay * 1000),
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": name,
                },
            )


class ConfirmingPublisher:
    """Publishes persistent, mandatory messages and waits for the broker's confirm."""

    def __init__(self, channel: AbstractChannel, *, confirm_timeout: float) -> None:
        self._channel = channel
        self._confirm_timeout = confirm_timeout

    async def publish(
        self,
        *,
        exchange: str,
        routing_key: str,
        body: bytes,
        message_id: str,
        mandatory: bool = True,
        message_type: str | None = None,
        correlation_id: str | None = None,
        headers: BrokerHeaders | None = None,
    ) -> None:
        """Publish one message; PublishFailed unless the broker confirms it.

        ``mandatory`` messages must also reach a queue: a returned message is a failure.
        """
        # Straight to aiormq, the layer aio-pika's Exchange.publish ends in: it is on every
        # request's path, and the Message and Exchange objects in between only copy fields.
        properties = Basic.Properties(
            content_type="application/json",
            delivery_mode=DeliveryMode.PERSISTENT.value,
            message_id=message_id,
            message_type=message_type,
            correlation_id=correlation_id,
            headers=headers,
            timestamp=dt.datetime.now(dt.UTC),
            app_id="confirmhub",
        )
        started = time.perf_counter()
        try:
            # The robust channel swaps its underlying channel on reconnection: fetch it anew.
            channel = await self._channel.get_underlay_channel()
            assert isinstance(channel, aiormq.Channel)  # the abstract type lacks ``wait``
            confirmation = await channel.basic_publish(
                body,
                exchange=exchange,
                routing_key=routing_key,
                properties=properties,
                mandatory=mandatory,
                timeout=self._confirm_timeout,
                # The confirm below implies the frames were written; no need to wait for both.
                wait=False,
            )
            metrics.BROKER_CONFIRM_LATENCY.labels(exchange or "(default)").observe(
                time.perf_counter() - started
            )
        except (*CONNECTION_EXCEPTIONS, TimeoutError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and _current_task_cancelling():
                raise
            raise PublishFailed(f"{type(exc).__name__} publishing to {exchange}") from exc
        # A returned (unroutable) message is confirmed too: only a plain ack means durable.
        if not isinstance(confirmation, Basic.Ack):
            raise PublishFailed(f"message to {exchange}/{routing_key} was not routed")


def _current_task_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0

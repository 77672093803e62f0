"""RabbitMQ: declaring the topology, and publishing with confirms."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Mapping, Sequence

import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractQueue,
    DeliveryMode,
    ExchangeType,
    FieldValue,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, ChannelPreconditionFailed
from aiormq.exceptions import DeliveryError, PublishError
from pamqp.commands import Basic

from confirmhub import metrics
from confirmhub.broker_connection import BrokerConnection
from confirmhub.errors import PublishFailed
from confirmhub.settings import DEFAULT_RETRY_DELAYS
from schemas.bitrix24 import BITRIX24_METHOD_CONFIRM_ROUTING_KEY
from schemas.events import EVENTS_EXCHANGE
from schemas.inbound import INBOUND_EXCHANGE, MCN_CDR_ROUTING_KEY

DEAD_LETTER_EXCHANGE = "confirmhub.dead-letter"
DEAD_LETTER_QUEUE = "confirmhub.dead-letter"
MCN_CDR_QUEUE = "confirmhub.worker.mcn-cdr"
BITRIX24_QUEUE = "confirmhub.worker.bitrix24"
# Queue arguments, so fixed: RabbitMQ refuses to redeclare a queue with another value.
DELIVERY_LIMIT = 10
# Replicas of each quorum queue, one per node: any one of three nodes may be lost. A cluster
# of fewer nodes gets one per node; one that grows later gets more with rabbitmq-queues grow.
QUORUM_GROUP_SIZE = 3
# Before a nack or a closed channel on a live connection is retried (seconds).
_RETRY_PAUSE = 0.1

# Worker queue name → the inbound routing keys it takes.
WORKER_QUEUES: Mapping[str, tuple[str, ...]] = {
    MCN_CDR_QUEUE: (MCN_CDR_ROUTING_KEY,),
    BITRIX24_QUEUE: (BITRIX24_METHOD_CONFIRM_ROUTING_KEY,),
}

BrokerHeaders = dict[str, FieldValue]


def retry_queue_name(queue: str, delay: float) -> str:
    """The queue where a message of ``queue`` waits ``delay`` seconds before its next attempt."""
    # ".quorum": the classic queues of releases before clustering had the name without it.
    return f"{queue}.retry.{round(delay * 1000)}ms.quorum"


def quorum_arguments(arguments: Mapping[str, FieldValue] | None = None) -> dict[str, FieldValue]:
    """A quorum queue's arguments: replicated on up to ``QUORUM_GROUP_SIZE`` nodes."""
    return {
        "x-queue-type": "quorum",
        "x-quorum-initial-group-size": QUORUM_GROUP_SIZE,
        **(arguments or {}),
    }


async def declare_topology(
    channel: AbstractChannel, *, retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS
) -> None:
    """Declare exchanges and worker queues; idempotent, so every process may call it.

    Every queue is a quorum queue, so any one node of a three-node cluster may be lost.
    """
    inbound = await channel.declare_exchange(INBOUND_EXCHANGE, ExchangeType.TOPIC, durable=True)
    await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
    dead_letter = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, type=ExchangeType.FANOUT, durable=True
    )
    dead_queue = await _declare_quorum_queue(channel, DEAD_LETTER_QUEUE, quorum_arguments())
    await dead_queue.bind(dead_letter)
    for name, routing_keys in WORKER_QUEUES.items():
        queue = await _declare_quorum_queue(
            channel,
            name,
            quorum_arguments(
                {
                    "x-delivery-limit": DELIVERY_LIMIT,
                    "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                    # At-least-once dead-lettering needs reject-publish overflow.
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                }
            ),
        )
        for routing_key in routing_keys:
            await queue.bind(inbound, routing_key)
        for delay in retry_delays:
            # A message waits out the TTL here, then dead-letters straight back to its queue:
            # a delayed retry that costs no CPU. The delay is in the name, so changing the
            # configured delays declares new queues instead of clashing with the old ones.
            await _declare_quorum_queue(
                channel,
                retry_queue_name(name, delay),
                quorum_arguments(
                    {
                        "x-message-ttl": round(delay * 1000),
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": name,
                        "x-dead-letter-strategy": "at-least-once",
                        "x-overflow": "reject-publish",
                    }
                ),
            )


async def _declare_quorum_queue(
    channel: AbstractChannel, name: str, arguments: dict[str, FieldValue]
) -> AbstractQueue:
    try:
        return await channel.declare_queue(name, durable=True, arguments=arguments)
    except ChannelPreconditionFailed:
        # Queues declared before the group size was given have none, and RabbitMQ refuses
        # to redeclare them with one: check every other argument. Their replicas are managed
        # with ``rabbitmq-queues grow`` (README).
        legacy = {k: v for k, v in arguments.items() if k != "x-quorum-initial-group-size"}
        await channel.reopen()
        return await channel.declare_queue(name, durable=True, arguments=legacy)


class ConfirmingPublisher:
    """Publishes persistent, mandatory messages and waits for the broker's confirm.

    Every publish has a deadline, ``confirm_timeout`` after the call unless the caller gives
    an earlier one, and all its waiting counts against it: for a connection, for the channel,
    for the confirm. A connection lost before the confirm came back is not a failure yet: the
    message is published again on the connection to the next node, and what counts is the
    confirm from there (a copy the lost node had taken is a duplicate, which workers
    tolerate). A nack is retried on a new channel; only an unroutable message fails at once.
    """

    def __init__(self, broker: BrokerConnection, *, confirm_timeout: float) -> None:
        self._broker = broker
        self.confirm_timeout = confirm_timeout
        self._channel: aiormq.Channel | None = None
        self._channel_lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

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
        deadline: float | None = None,
    ) -> None:
        """Publish one message; PublishFailed unless the broker confirms it by the deadline.

        ``deadline`` is in the event loop's clock. ``mandatory`` messages must also reach a
        queue: a returned message is a failure.
        """
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
        until = asyncio.get_running_loop().time() + self.confirm_timeout
        if deadline is not None:
            until = min(until, deadline)
        started = time.perf_counter()
        attempt = _Attempt()
        try:
            async with asyncio.timeout_at(until):
                while not await self._publish_once(
                    body, exchange, routing_key, properties, mandatory, attempt
                ):
                    pass
        except TimeoutError as exc:
            raise PublishFailed(
                f"no confirm from RabbitMQ publishing to {exchange or '(default)'} in time"
                + (f" (last: {attempt.last_error})" if attempt.last_error else "")
            ) from exc
        metrics.BROKER_CONFIRM_LATENCY.labels(exchange or "(default)").observe(
            time.perf_counter() - started
        )

    async def _publish_once(
        self,
        body: bytes,
        exchange: str,
        routing_key: str,
        properties: Basic.Properties,
        mandatory: bool,
        attempt: _Attempt,
    ) -> bool:
        """One attempt: True once confirmed; False to try again; PublishFailed if hopeless."""
        if attempt.pause:
            await asyncio.sleep(attempt.pause)
        channel = await self._confirm_channel()
        try:
            # Straight to aiormq, the layer aio-pika's Exchange.publish ends in: it is on every
            # request's path, and the Message and Exchange objects in between only copy fields.
            confirmation = await channel.basic_publish(
                body,
                exchange=exchange,
                routing_key=routing_key,
                properties=properties,
                mandatory=mandatory,
                # The confirm implies the frames were written; no need to wait for both.
                wait=False,
            )
        except PublishError as exc:
            # Returned: no queue takes it (mandatory). Publishing again would change nothing.
            raise PublishFailed(f"message to {exchange}/{routing_key} was not routed") from exc
        except DeliveryError:
            # A nack. Just after a failover, a channel opened before the queue's new leader was
            # known nacks every publish: the next attempt takes a new channel.
            self._retire(channel)
            attempt.failed("nack", lost_connection=False)
            return False
        except (*CONNECTION_EXCEPTIONS, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and _current_task_cancelling():
                raise
            attempt.failed(type(exc).__name__, lost_connection=channel.connection.is_closed)
            return False
        if not isinstance(confirmation, Basic.Ack):
            raise PublishFailed(f"unexpected confirm {confirmation!r} from RabbitMQ")
        return True

    def _retire(self, channel: aiormq.Channel) -> None:
        """Stop using ``channel``, closing it in the background."""
        if self._channel is channel:
            self._channel = None
            closing = asyncio.create_task(_close_channel(channel))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def _confirm_channel(self) -> aiormq.Channel:
        """A channel in confirm mode on the current connection, opened once per connection."""
        async with self._channel_lock:
            channel = self._channel
            if channel is None or channel.is_closed or channel.connection.is_closed:
                connection = await self._broker.current()
                assert connection.transport is not None
                opened = await connection.transport.connection.channel(publisher_confirms=True)
                assert isinstance(opened, aiormq.Channel)  # the abstract type lacks ``wait``
                self._channel = channel = opened
            return channel


class _Attempt:
    """What went wrong with a publish so far, and how long to wait before the next try."""

    def __init__(self) -> None:
        self.last_error: str | None = None
        self.pause = 0.0

    def failed(self, error: str, *, lost_connection: bool) -> None:
        self.last_error = error
        # A lost connection is replaced at once (the wait is for the next one); a nack or a
        # closed channel on a live connection is retried after a pause, not in a tight loop.
        self.pause = 0.0 if lost_connection else _RETRY_PAUSE


async def _close_channel(channel: aiormq.Channel) -> None:
    with contextlib.suppress(*CONNECTION_EXCEPTIONS, TimeoutError):
        await asyncio.wait_for(channel.close(), timeout=5)


def _current_task_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0

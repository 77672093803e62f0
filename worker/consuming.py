"""Keeping the worker queues consumed: on every broker connection, and after a cancel."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from aiormq.exceptions import AMQPChannelError
from pamqp.commands import Basic

from confirmhub.broker import declare_topology
from confirmhub.broker_connection import BrokerConnection
from worker.acks import acks_of
from worker.consumer import Consumer

log = structlog.get_logger("confirmhub.worker")

# Pauses before consuming again after a broker-sent cancel: doubling up to the cap (seconds).
_FIRST_RESUME_PAUSE = 0.2
_MAX_RESUME_PAUSE = 5.0


class QueueConsumers:
    """Consumes each worker queue with its ``Consumer``, whatever happens to the connection.

    - a new connection (another node, after a failover) → a new channel with the prefetch,
      and every queue consumed on it; deliveries unacknowledged on the old one come again;
    - a ``basic.cancel`` from the broker (the queue was deleted, or moved away) → the
      topology declared again and the queue consumed again, with backoff until it works;
      aiormq only drops such a consumer, so without this the worker would idle for ever;
    - the channel closed by the broker while the connection lives (a channel error) → the
      same for every queue, on a new channel;
    - ``stop`` → consumers cancelled, deliveries in progress settled, the channel closed
      (what is still unacknowledged goes back to its queue).
    """

    def __init__(
        self,
        broker: BrokerConnection,
        consumers: Mapping[str, Consumer],
        *,
        prefetch: int,
        retry_delays: tuple[float, ...],
    ) -> None:
        self._broker = broker
        self._consumers = dict(consumers)
        self._prefetch = prefetch
        self._retry_delays = retry_delays
        self._channel: AbstractChannel | None = None
        # Consumer tag → queue name, on the current channel.
        self._tags: dict[str, str] = {}
        self._resuming: set[asyncio.Task[None]] = set()
        self._stopped = False

    async def start(self) -> None:
        """Consume now, and on every later connection."""
        await self._broker.on_each_connection(self._consume_all)

    async def stop(self, *, grace: float) -> None:
        """Stop taking deliveries and wait up to ``grace`` seconds for those in progress."""
        self._stopped = True
        for task in self._resuming:
            task.cancel()
        channel = self._channel
        if channel is not None and not channel.is_closed:
            for tag in list(self._tags):
                with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                    await (await channel.get_underlay_channel()).basic_cancel(tag)
        for consumer in self._consumers.values():
            await consumer.drain(grace=grace)
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                # Acks still held for the end of a turn go out before the channel closes.
                await acks_of(await channel.get_underlay_channel()).wait_sent()
                await channel.close()

    async def _consume_all(self, connection: AbstractConnection) -> None:
        if self._stopped:
            return
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self._prefetch)
        underlay = await channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(self._on_cancel)
        channel.close_callbacks.add(self._on_channel_closed)
        self._channel, self._tags = channel, {}
        for queue_name in self._consumers:
            await self._consume(channel, queue_name)

    def _on_channel_closed(self, channel: object, exc: BaseException | None = None) -> None:
        # Only a channel error: a lost connection is the broker connection's to replace.
        if self._stopped or channel is not self._channel or not isinstance(exc, AMQPChannelError):
            return
        log.warning("worker.channel_closed_by_broker", error=type(exc).__name__)
        self._recover(None)

    async def _consume(self, channel: AbstractChannel, queue_name: str) -> None:
        # A handle, not a declaration: the topology is declared on every connection.
        queue = await channel.get_queue(queue_name, ensure=False)
        tag = await queue.consume(self._consumers[queue_name].on_message)
        self._tags[tag] = queue_name

    def _on_cancel(self, frame: Basic.Cancel) -> None:
        queue_name = self._tags.pop(frame.consumer_tag or "", None)
        if queue_name is None or self._stopped:
            return
        log.warning("worker.consumer_cancelled_by_broker", queue=queue_name)
        self._recover(queue_name)

    def _recover(self, queue_name: str | None) -> None:
        task = asyncio.create_task(self._resume(queue_name))
        self._resuming.add(task)
        task.add_done_callback(self._resuming.discard)

    async def _resume(self, queue_name: str | None) -> None:
        """Consume ``queue_name`` again on the current channel (None: every queue, on a new
        channel), until that works or a new connection has taken over."""
        pause = _FIRST_RESUME_PAUSE
        channel = self._channel
        while channel is self._channel and not self._stopped:
            await asyncio.sleep(pause)
            try:
                connection = await self._broker.current()
                # A declaration of its own first, on a channel of its own: consuming a queue
                # that does not exist would close the channel the other queues use.
                async with connection.channel(publisher_confirms=False) as topology:
                    await declare_topology(topology, retry_delays=self._retry_delays)
                if queue_name is None:
                    await self._consume_all(connection)
                elif channel is not None:
                    await self._consume(channel, queue_name)
            except CONNECTION_EXCEPTIONS as exc:
                log.warning(
                    "worker.consume_again_failed", queue=queue_name, error=type(exc).__name__
                )
                pause = min(pause * 2, _MAX_RESUME_PAUSE)
                continue
            log.info("worker.consuming_again", queue=queue_name or "all")
            return

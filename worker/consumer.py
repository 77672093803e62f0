"""The consumer loop: qos, decode, dispatch, and an explicit acknowledgement policy."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable

import structlog
from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc

from confirmhub import metrics
from confirmhub.broker import DEAD_LETTER_EXCHANGE, ConfirmingPublisher
from confirmhub.errors import ServiceUnavailable
from worker.errors import PoisonMessage, RetryLater

log = structlog.get_logger("confirmhub.worker")

Handler = Callable[[bytes], Awaitable[None]]

# Failures of our own dependencies: the message is fine, the attempt is not.
TRANSIENT_ERRORS = (
    ServiceUnavailable,
    RetryLater,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    OSError,
    TimeoutError,
)
_RETRY_PAUSE = 1.0


def _decode_failure(exc: ValidationError) -> PoisonMessage:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return PoisonMessage("invalid-message", f"{where}: {first['msg']}")


class Consumer:
    """Runs one handler per message and settles the message by what the handler raised.

    Policy: success → ack; PoisonMessage (or a body that fails validation) → copy to the
    dead-letter exchange with the reason in headers, then ack; a transient error → nack
    with requeue after a pause (the queue's delivery limit dead-letters a message that
    keeps failing); anything else → logged and requeued the same way.
    """

    def __init__(self, *, queue_name: str, handler: Handler, publisher: ConfirmingPublisher):
        self._queue_name = queue_name
        self._handler = handler
        self._publisher = publisher
        self._in_flight: set[asyncio.Task[None]] = set()

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        """aio-pika callback: process and settle one delivery."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._settle(message)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def drain(self, *, grace: float) -> None:
        """Wait for deliveries in progress to be settled (used on shutdown)."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace)

    async def _settle(self, message: AbstractIncomingMessage) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            queue=self._queue_name,
            message_id=message.message_id,
            request_id=message.correlation_id,
        )
        if message.redelivered:
            metrics.REDELIVERIES.labels(self._queue_name).inc()
        started = time.perf_counter()
        result = "acked"
        try:
            await self._handler(message.body)
            await message.ack()
        except (PoisonMessage, ValidationError) as exc:
            poison = exc if isinstance(exc, PoisonMessage) else _decode_failure(exc)
            result = "dead_lettered"
            await self._dead_letter(message, poison)
        except TRANSIENT_ERRORS as exc:
            result = "requeued"
            log.warning("message.retry_later", error_type=type(exc).__name__, error=str(exc))
            await asyncio.sleep(_RETRY_PAUSE)
            await message.nack(requeue=True)
        except Exception:
            result = "requeued"
            log.exception("message.unexpected_error")
            await asyncio.sleep(_RETRY_PAUSE)
            await message.nack(requeue=True)
        finally:
            elapsed = time.perf_counter() - started
            metrics.MESSAGES_PROCESSED.labels(self._queue_name, result).inc()
            metrics.MESSAGE_LATENCY.labels(self._queue_name).observe(elapsed)
            log.info(
                "message.handled",
                result=result,
                redelivered=message.redelivered,
                duration_ms=round(elapsed * 1000, 2),
            )

    async def _dead_letter(self, message: AbstractIncomingMessage, poison: PoisonMessage) -> None:
        log.error("message.dead_lettered", reason=poison.reason, detail=poison.detail)
        metrics.DEAD_LETTERED.labels(self._queue_name, poison.reason).inc()
        try:
            await self._publisher.publish(
                exchange=DEAD_LETTER_EXCHANGE,
                routing_key=message.routing_key or "",
                body=message.body,
                message_id=message.message_id or "",
                message_type=message.type,
                correlation_id=message.correlation_id,
                headers={
                    "x-confirmhub-reason": poison.reason,
                    "x-confirmhub-detail": poison.detail[:1000],
                    "x-confirmhub-queue": self._queue_name,
                    "x-confirmhub-routing-key": message.routing_key,
                    "x-confirmhub-dead-lettered-at": dt.datetime.now(dt.UTC).isoformat(),
                },
            )
        except ServiceUnavailable:
            await message.nack(requeue=True)
            return
        await message.ack()

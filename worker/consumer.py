"""The consumer loop: qos, decode, dispatch, and an explicit acknowledgement policy."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc

from confirmhub import metrics
from confirmhub.broker import (
    DEAD_LETTER_EXCHANGE,
    BrokerHeaders,
    ConfirmingPublisher,
    retry_queue_name,
)
from confirmhub.db.engine import is_unavailable
from confirmhub.errors import ServiceUnavailable
from worker.acks import acks_of
from worker.errors import PoisonMessage, RetryLater, SplitMessage

log = structlog.get_logger("confirmhub.worker")

Handler = Callable[[bytes], Awaitable[None]]

ATTEMPT_HEADER = "x-confirmhub-attempt"
# Failures of our own dependencies: the message is fine, the attempt is not.
TRANSIENT_ERRORS = (ServiceUnavailable, RetryLater)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of a dependency (broker, database), not of the message."""
    return isinstance(exc, TRANSIENT_ERRORS) or is_unavailable(exc)


def describe_error(exc: BaseException) -> str:
    """A short description safe for logs and headers: SQLAlchemy's own text carries the
    statement's parameters, so only the driver error's first line is kept."""
    cause = exc.orig if isinstance(exc, sa_exc.StatementError) and exc.orig else exc
    first_line = str(cause).strip().splitlines()[0][:200] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {first_line}" if first_line else type(cause).__name__


def _decode_failure(exc: ValidationError) -> PoisonMessage:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return PoisonMessage("invalid-message", f"{where}: {first['msg']}")


def attempt_of(message: AbstractIncomingMessage) -> int:
    """How many attempts this message has already failed (0 on its first delivery)."""
    value = (message.headers or {}).get(ATTEMPT_HEADER)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class Consumer:
    """Runs one handler per message and settles the message by what the handler raised.

    Policy, by outcome:
    - success (the handler returns only once the message's state is committed and its events
      are confirmed by the broker) → ack; acks are sent in bulk, one ``basic.ack multiple``
      for the deliveries of a channel settled in the same turn of the event loop (see
      ``worker.acks``), never covering a delivery still in progress;
    - SplitMessage (a message of several CDRs failed) → each part queued again as its own
      message, then ack: only the part at fault goes on to be retried or dead-lettered;
    - PoisonMessage, or a body that fails validation → copied to the dead-letter exchange
      with the reason in ``x-confirmhub-*`` headers, then ack;
    - any other error (a transient one expected, a bug logged with its traceback) → copied
      to the retry queue of the next backoff delay, then ack; after ``max_attempts`` it is
      dead-lettered as ``retries-exhausted`` — unless the database is unavailable (down,
      failing over, demoted): the message is not at fault, so it is retried at the longest
      delay for as long as that lasts, never dead-lettered;
    - no copy could be made (broker gone) → nack with requeue, so nothing is lost; the
      quorum queue's delivery limit still ends a message that crashes workers;
    - the ack or nack cannot be sent (the connection was lost meanwhile) → nothing more: the
      broker redelivers the message on the next connection, and the handlers' conditional
      updates turn its second processing into a no-op.
    """

    def __init__(
        self,
        *,
        queue_name: str,
        handler: Handler,
        publisher: ConfirmingPublisher,
        retry_delays: Sequence[float],
        max_attempts: int,
    ) -> None:
        self._queue_name = queue_name
        self._handler = handler
        self._publisher = publisher
        self._retry_delays = tuple(retry_delays)
        self._max_attempts = max_attempts
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
        attempt = attempt_of(message)
        structlog.contextvars.bind_contextvars(
            queue=self._queue_name,
            message_id=message.message_id,
            request_id=message.correlation_id,
            attempt=attempt,
        )
        if message.redelivered or attempt:
            metrics.REDELIVERIES.labels(self._queue_name).inc()
        started = time.perf_counter()
        result = "acked"
        try:
            await self._handler(message.body)
        except SplitMessage as split:
            log.warning(
                "message.split",
                parts=len(split.parts),
                error=describe_error(split.__cause__ or split),
            )
            result = await self._split(message, split.parts)
        except (PoisonMessage, ValidationError) as exc:
            poison = exc if isinstance(exc, PoisonMessage) else _decode_failure(exc)
            result = await self._dead_letter(message, poison, attempt=attempt)
        except Exception as exc:
            if is_transient(exc):
                log.warning("message.attempt_failed", error=describe_error(exc))
            else:
                log.exception("message.unexpected_error", error=describe_error(exc))
            result = await self._retry_later(message, exc, attempt=attempt + 1)
        else:
            _ack(message)
        finally:
            elapsed = time.perf_counter() - started
            metrics.MESSAGES_PROCESSED.labels(self._queue_name, result).inc()
            metrics.MESSAGE_LATENCY.labels(self._queue_name).observe(elapsed)
            log.info("message.handled", result=result, duration_ms=round(elapsed * 1000, 2))

    async def _split(self, message: AbstractIncomingMessage, parts: list[bytes]) -> str:
        """Queue each part as a message of its own on this queue, then ack the whole."""
        prefix = message.message_id or ""
        copied = await self._copy(
            message,
            "",
            self._queue_name,
            {ATTEMPT_HEADER: 0},  # each part starts its own count of attempts
            parts=[(f"{prefix}/{index}", part) for index, part in enumerate(parts)],
        )
        return "split" if copied else "requeued"

    async def _retry_later(
        self, message: AbstractIncomingMessage, exc: Exception, *, attempt: int
    ) -> str:
        if attempt >= self._max_attempts and not is_unavailable(exc):
            poison = PoisonMessage("retries-exhausted", describe_error(exc))
            return await self._dead_letter(message, poison, attempt=attempt)
        delay = self._retry_delays[min(attempt, len(self._retry_delays)) - 1]
        headers: BrokerHeaders = {
            ATTEMPT_HEADER: attempt,
            "x-confirmhub-last-error": describe_error(exc),
        }
        copied = await self._copy(message, "", retry_queue_name(self._queue_name, delay), headers)
        return "retry_scheduled" if copied else "requeued"

    async def _dead_letter(
        self, message: AbstractIncomingMessage, poison: PoisonMessage, *, attempt: int
    ) -> str:
        log.error("message.dead_lettered", reason=poison.reason, detail=poison.detail)
        headers: BrokerHeaders = {
            ATTEMPT_HEADER: attempt,
            "x-confirmhub-reason": poison.reason,
            "x-confirmhub-detail": poison.detail[:1000],
            "x-confirmhub-queue": self._queue_name,
            "x-confirmhub-dead-lettered-at": dt.datetime.now(dt.UTC).isoformat(),
        }
        copied = await self._copy(message, DEAD_LETTER_EXCHANGE, self._queue_name, headers)
        if copied:
            metrics.DEAD_LETTERED.labels(self._queue_name, poison.reason).inc()
        return "dead_lettered" if copied else "requeued"

    async def _copy(
        self,
        message: AbstractIncomingMessage,
        exchange: str,
        routing_key: str,
        headers: BrokerHeaders,
        *,
        parts: Sequence[tuple[str, bytes]] | None = None,
    ) -> bool:
        """Publish confirmed copies (the message itself, or ``parts`` as (message id, body)),
        then ack; nack with requeue if any copy failed — copies already queued are then
        duplicates, which workers tolerate."""
        original = {k: v for k, v in (message.headers or {}).items() if k != "x-death"}
        copies = parts if parts is not None else [(message.message_id or "", message.body)]
        try:
            await asyncio.gather(
                *(
                    self._publisher.publish(
                        exchange=exchange,
                        routing_key=routing_key,
                        body=body,
                        message_id=message_id,
                        message_type=message.type,
                        correlation_id=message.correlation_id,
                        headers={**original, **headers},
                    )
                    for message_id, body in copies
                )
            )
        except ServiceUnavailable:
            await _requeue(message)
            return False
        _ack(message)
        return True


def _ack(message: AbstractIncomingMessage) -> None:
    """Acknowledge with the channel's other settled deliveries (sent at the end of the turn)."""
    if message.delivery_tag is not None:
        acks_of(message.channel).ack(message.delivery_tag)


async def _requeue(message: AbstractIncomingMessage) -> None:
    """Nack with requeue; its channel gone meanwhile means a redelivery instead."""
    try:
        await message.nack(requeue=True)
    except CONNECTION_EXCEPTIONS as exc:
        log.warning("message.settle_lost", error=type(exc).__name__, redelivered_later=True)
    if message.delivery_tag is not None:
        acks_of(message.channel).settled(message.delivery_tag)

"""The dead-letter queue: what is there and why, and replaying it once the cause is fixed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from confirmhub.broker import DEAD_LETTER_QUEUE, BrokerHeaders, ConfirmingPublisher

_OUR_HEADERS = (
    "x-confirmhub-reason",
    "x-confirmhub-detail",
    "x-confirmhub-dead-lettered-at",
    "x-confirmhub-attempt",
    "x-confirmhub-last-error",
    "x-death",
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered message, described for an operator."""

    message_id: str | None
    queue: str | None
    reason: str
    detail: str | None
    dead_lettered_at: str | None
    correlation_id: str | None
    body_bytes: int


def _header(message: AbstractIncomingMessage, name: str) -> str | None:
    value = (message.headers or {}).get(name)
    return None if value is None else str(value)


def _first_death(message: AbstractIncomingMessage) -> dict[str, Any]:
    deaths = (message.headers or {}).get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return deaths[0]
    return {}


def describe(message: AbstractIncomingMessage) -> DeadLetter:
    """Why a message is here: our own headers, or RabbitMQ's x-death (e.g. delivery_limit)."""
    death = _first_death(message)
    return DeadLetter(
        message_id=message.message_id,
        queue=_header(message, "x-confirmhub-queue") or death.get("queue"),
        reason=_header(message, "x-confirmhub-reason") or str(death.get("reason", "unknown")),
        detail=_header(message, "x-confirmhub-detail"),
        dead_lettered_at=_header(message, "x-confirmhub-dead-lettered-at")
        or (str(death["time"]) if "time" in death else None),
        correlation_id=message.correlation_id,
        body_bytes=len(message.body),
    )


async def list_dead_letters(connection: AbstractConnection, *, limit: int) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, left in the queue."""
    channel = await connection.channel()
    try:
        queue = await channel.get_queue(DEAD_LETTER_QUEUE, ensure=False)
        found: list[DeadLetter] = []
        while len(found) < limit:
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            found.append(describe(message))
    finally:
        # Unacknowledged, every message read goes back to the queue.
        await channel.close()
    return found


async def replay_dead_letters(
    connection: AbstractConnection,
    publisher: ConfirmingPublisher,
    *,
    message_ids: Collection[str] | None,
) -> int:
    """Send dead letters back to their worker queue (all, or those with ``message_ids``)."""
    channel = await connection.channel()
    replayed = 0
    try:
        queue = await channel.get_queue(DEAD_LETTER_QUEUE, ensure=False)
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            letter = describe(message)
            wanted = message_ids is None or letter.message_id in message_ids
            if not wanted or letter.queue is None:
                continue
            headers: BrokerHeaders = {
                k: v for k, v in (message.headers or {}).items() if k not in _OUR_HEADERS
            }
            headers["x-confirmhub-replayed-at"] = dt.datetime.now(dt.UTC).isoformat()
            await publisher.publish(
                exchange="",
                routing_key=letter.queue,
                body=message.body,
                message_id=message.message_id or "",
                message_type=message.type,
                correlation_id=message.correlation_id,
                headers=headers,
            )
            await message.ack()
            replayed += 1
    finally:
        await channel.close()
    return replayed

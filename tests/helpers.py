"""Helpers for observing what a user would: queue messages, metrics, HTTP answers."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, ExchangeType
from prometheus_client import REGISTRY

from schemas.events import EVENTS_EXCHANGE
from schemas.inbound import CDR_MESSAGES, MCN_CDR_ROUTING_KEY, METHOD_CONFIRM_MESSAGES

# The upstream samples live in ../shared/fixtures beside the repository; a copy ships in
# tests/fixtures so that a checkout without shared/ still tests against them.
_SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
FIXTURES = _SHARED_FIXTURES if _SHARED_FIXTURES.is_dir() else Path(__file__).parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    """A payload from ``shared/fixtures``."""
    return (FIXTURES / name).read_bytes()


async def eventually(
    predicate: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Wait until ``predicate()`` is truthy (awaiting it if it is a coroutine)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def free_port() -> int:
    """A TCP port nothing listens on right now, on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def metric(name: str, **labels: str) -> float:
    """The current value of a Prometheus sample in this process (0 if never set)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def take_all(channel: AbstractChannel, name: str) -> list[AbstractIncomingMessage]:
    """Remove and return every message ready in a queue.

    A passive declare's message count lags behind on quorum queues, so the only reliable
    way to see what a queue holds is to take it.
    """
    queue = await channel.get_queue(name, ensure=False)
    taken = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        taken.append(message)
    return taken


def queued_items(messages: list[AbstractIncomingMessage]) -> int:
    """How many accepted webhooks (CDRs, Bitrix24 events) the worker-queue messages hold: a
    message may carry several, queued together."""
    return sum(
        len(
            (
                CDR_MESSAGES
                if message.routing_key == MCN_CDR_ROUTING_KEY
                else METHOD_CONFIRM_MESSAGES
            ).decode(message.body)
        )
        for message in messages
    )


class EventTap:
    """An exclusive queue bound to every downstream event."""

    def __init__(self, queue: AbstractQueue) -> None:
        self.queue = queue

    @classmethod
    async def bind(cls, channel: AbstractChannel, *routing_keys: str) -> EventTap:
        """Declare the events exchange as a consumer would, and bind a private queue."""
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for routing_key in routing_keys or ("#",):
            await queue.bind(exchange, routing_key)
        return cls(queue)

    async def next(self, timeout: float = 10.0) -> AbstractIncomingMessage:
        """The next event, or AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = await self.queue.get(no_ack=True, fail=False)
            if message is not None:
                return message
            await asyncio.sleep(0.02)
        raise AssertionError(f"no event within {timeout}s")

    async def collect(self, count: int, timeout: float = 10.0) -> list[AbstractIncomingMessage]:
        """Exactly the next ``count`` events."""
        return [await self.next(timeout) for _ in range(count)]

    async def assert_quiet(self, seconds: float = 1.0) -> None:
        """Fail if any event arrives within ``seconds``."""
        await asyncio.sleep(seconds)
        message = await self.queue.get(no_ack=True, fail=False)
        assert message is None, f"unexpected event {message.body!r}"

    async def close(self) -> None:
        """Delete the queue."""
        await self.queue.delete(if_unused=False, if_empty=False)


def body_of(message: AbstractIncomingMessage) -> dict[str, Any]:
    """A message's JSON body."""
    decoded = orjson.loads(message.body)
    assert isinstance(decoded, dict)
    return decoded


def nested(depth: int, leaf: Any = "leaf") -> Any:
    """``leaf`` inside ``depth`` objects nested in one another (``{"a": {"a": leaf}}`` for 2)."""
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value

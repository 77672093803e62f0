"""Queueing accepted webhooks: requests that arrive together share one confirmed publish."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic

from confirmhub.batching import Coalescer
from confirmhub.broker import ConfirmingPublisher
from confirmhub.errors import PublishFailed
from schemas.inbound import INBOUND_EXCHANGE, InboundCodec, Item

# Publishes awaiting their confirm at once; a request arriving while all are busy joins the
# next message. One: at 1,000 req/s three or four requests share a message, which the worker
# needs to keep up, for about one confirm's wait (p99 7 ms); with four in flight messages
# stayed mostly single and p99 was 11 ms (bench/, docs/benchmarks/profile.md).
MAX_IN_FLIGHT = 1
# Requests in one message at most: bounds a message to a few MiB.
MAX_REQUESTS_PER_MESSAGE = 64


@dataclass(frozen=True, slots=True)
class _Accepted:
    request_id: str
    encoded: list[bytes]
    deadline: float


class InboundQueue(Generic[Item]):
    """Publishes accepted webhooks to ``confirmhub.inbound``, grouping concurrent requests.

    A request alone is one message, as if published directly; requests accepted while
    earlier publishes await their confirms travel together as one batch message, so the
    broker's per-message work (and ours) is paid once per group — a group commit. A
    request's items always travel in one message, and each request returns only once the
    broker confirmed the message holding them. Each request's items are encoded in its own
    call, so one that cannot be encoded fails that request alone, never its group.

    No request waits longer than the publisher's confirm timeout, counted from its arrival,
    whether it waits behind an earlier message or for its own: when the deadline passes, it
    fails with PublishFailed (a 503) and is left out of any message not yet started. A
    message in flight keeps trying (on another node, after a failover) until the last
    deadline of the requests it carries.
    """

    def __init__(
        self,
        publisher: ConfirmingPublisher,
        *,
        routing_key: str,
        codec: InboundCodec[Item],
        max_in_flight: int = MAX_IN_FLIGHT,
        max_requests_per_message: int = MAX_REQUESTS_PER_MESSAGE,
    ) -> None:
        self._publisher = publisher
        self._routing_key = routing_key
        self._codec = codec
        self._messages: Coalescer[_Accepted, None] = Coalescer(
            self._publish, max_size=max_requests_per_message, max_concurrent=max_in_flight
        )

    async def put(self, request_id: str, items: Sequence[Item]) -> None:
        """Queue one request's items durably; PublishFailed if the broker did not confirm."""
        deadline = asyncio.get_running_loop().time() + self._publisher.confirm_timeout
        encoded = [self._codec.encode_item(item) for item in items]
        try:
            async with asyncio.timeout_at(deadline):
                await self._messages(
                    _Accepted(request_id=request_id, encoded=encoded, deadline=deadline)
                )
        except TimeoutError as exc:
            raise PublishFailed("the broker did not confirm the request in time") from exc

    async def _publish(self, requests: Sequence[_Accepted]) -> list[None]:
        first = requests[0].request_id
        await self._publisher.publish(
            exchange=INBOUND_EXCHANGE,
            routing_key=self._routing_key,
            body=self._codec.join([item for request in requests for item in request.encoded]),
            # The first request names the message; the items carry their own request ids.
            message_id=first if len(requests) == 1 else f"{first}+{len(requests) - 1}",
            message_type=self._routing_key,
            correlation_id=first if len(requests) == 1 else None,
            deadline=max(request.deadline for request in requests),
        )
        return [None] * len(requests)

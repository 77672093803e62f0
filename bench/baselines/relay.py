"""Baseline (d): the relay floor — consume, publish one confirmed event per CDR, ack.

What any worker that emits one durable event per CDR has to do, and nothing else: no
database, no validation, no log lines. It consumes the worker's own quorum queue with the
worker's prefetch, reads the CDRs out of each delivery (one, or a group the receiver queued
together), publishes a ``password_call.<outcome>``-shaped event per CDR to
``confirmhub.events`` — persistent, on a publisher-confirms channel, straight through aiormq
as confirmhub's own publisher does — and acks the delivery once the broker has confirmed all
of its events. Deliveries are handled concurrently, so confirms are pipelined up to the
prefetch, never awaited one at a time. Runs until SIGTERM, or exits on the first
failure.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from typing import Any

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractIncomingMessage, DeliveryMode
from pamqp.commands import Basic

from bench.baselines import LoopName, run
from schemas.events import EVENTS_EXCHANGE

# Outcome by Q.931 status, enough to route the event as confirmhub would.
_OUTCOMES = {16: "answered", 17: "busy", 19: "no_answer", 31: "rejected"}


def cdrs_of(body: bytes) -> list[dict[str, Any]]:
    """The CDRs of an inbound message: one (schema 1) or a group (schema 2)."""
    message = orjson.loads(body)
    if message.get("schema_version") == 2:
        return [item["cdr"] for item in message["items"]]
    return [message["cdr"]]


def event_of(cdr: dict[str, Any], *, now: str) -> tuple[str, str, bytes]:
    """The routing key, message id and body of a CDR's event, about the size of
    confirmhub's."""
    outcome = _OUTCOMES.get(cdr["q931_status"], "unavailable")
    call_uuid = cdr["verification_call_uuid"]
    call_id, _, account_id = call_uuid.rpartition("_")
    body = {
        "event_id": call_uuid,
        "type": f"password_call.{outcome}",
        "occurred_at": now,
        "data": {
            "verification_call_uuid": call_uuid,
            "call_id": call_id,
            "account_id": account_id,
            "q931_status": cdr["q931_status"],
            "final_status": cdr.get("final_status"),
            "outcome": outcome,
        },
    }
    return f"password_call.{outcome}", call_uuid, orjson.dumps(body)


async def relay(url: str, queue_name: str, *, prefetch: int) -> None:
    """Relay until cancelled."""
    connection = await aio_pika.connect(url)
    try:
        publishing = await connection.channel(publisher_confirms=True)
        publisher = await publishing.get_underlay_channel()
        assert isinstance(publisher, aiormq.Channel)
        consuming = await connection.channel()
        await consuming.set_qos(prefetch_count=prefetch)
        queue = await consuming.declare_queue(queue_name, passive=True)

        async def publish(routing_key: str, message_id: str, body: bytes) -> None:
            confirmation = await publisher.basic_publish(
                body,
                exchange=EVENTS_EXCHANGE,
                routing_key=routing_key,
                properties=Basic.Properties(
                    content_type="application/json",
                    delivery_mode=DeliveryMode.PERSISTENT.value,
                    message_id=message_id,
                ),
                wait=False,
            )
            if not isinstance(confirmation, Basic.Ack):
                raise RuntimeError(f"the broker did not confirm an event: {confirmation!r}")

        # A failure ends the process, for the bench to see at once rather than a stall.
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                now = dt.datetime.now(dt.UTC).isoformat()
                events = [event_of(cdr, now=now) for cdr in cdrs_of(message.body)]
                await asyncio.gather(*(publish(*event) for event in events))
                await message.ack()
            except Exception as exc:
                if not failed.done():
                    failed.set_exception(exc)

        await queue.consume(on_message)
        await failed
    finally:
        await connection.close()


def main() -> None:
    """Parse arguments and relay until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--prefetch", type=int, default=64)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    loop: LoopName = args.loop
    run(relay(args.amqp_url, args.queue, prefetch=args.prefetch), loop)


if __name__ == "__main__":
    main()

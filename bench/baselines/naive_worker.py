"""Baseline (e): the worker a user would write instead of confirmhub's.

The obvious aio-pika consumer: the worker's queue and prefetch, each delivery validated with
pydantic, its CDRs stored in one SQLAlchemy transaction on PostgreSQL (an insert per CDR that
ignores a call already stored), then one event per newly stored call published persistent on
a publisher-confirms channel, awaiting each confirm, then the ack. SQLAlchemy's default
connection pool, no batching across deliveries, no log lines or metrics. Runs until SIGTERM,
or exits on the first failure.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt

import aio_pika
import orjson
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, DeliveryMode
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.baselines import LoopName, run
from schemas.events import EVENTS_EXCHANGE

metadata = MetaData()
calls = Table(
    "naive_calls",
    metadata,
    Column("verification_call_uuid", String(128), primary_key=True),
    Column("outcome", String(32), nullable=False),
    Column("q931_status", Integer, nullable=False),
    Column("final_status", String(64)),
    Column("completed_at", DateTime(timezone=True), nullable=False),
)
_OUTCOMES = {16: "answered", 17: "busy", 19: "no_answer", 31: "rejected"}


class Cdr(BaseModel):
    """An MCN CDR."""

    verification_call_uuid: str
    q931_status: int
    final_status: str | None = None


class Delivery(BaseModel):
    """A queued CDR (schema 1) or a group of them (schema 2)."""

    cdr: Cdr | None = None
    items: list[Delivery] | None = None

    def cdrs(self) -> list[Cdr]:
        """Every CDR the delivery holds."""
        if self.items is not None:
            return [cdr for item in self.items for cdr in item.cdrs()]
        return [self.cdr] if self.cdr is not None else []


class CallEvent(BaseModel):
    """``password_call.<outcome>``."""

    event_id: str
    type: str
    occurred_at: dt.datetime
    data: dict[str, str | int | None]


async def store(engine: AsyncEngine, cdrs: list[Cdr], now: dt.datetime) -> list[CallEvent]:
    """Insert the calls in one transaction; an event for each that was new."""
    events = []
    async with engine.begin() as connection:
        for cdr in cdrs:
            outcome = _OUTCOMES.get(cdr.q931_status, "unavailable")
            inserted = await connection.execute(
                insert(calls)
                .values(
                    verification_call_uuid=cdr.verification_call_uuid,
                    outcome=outcome,
                    q931_status=cdr.q931_status,
                    final_status=cdr.final_status,
                    completed_at=now,
                )
                .on_conflict_do_nothing()
                .returning(calls.c.verification_call_uuid)
            )
            if inserted.first() is not None:
                events.append(
                    CallEvent(
                        event_id=cdr.verification_call_uuid,
                        type=f"password_call.{outcome}",
                        occurred_at=now,
                        data={**cdr.model_dump(), "outcome": outcome},
                    )
                )
    return events


async def consume(amqp_url: str, database_url: str, queue_name: str, *, prefetch: int) -> None:
    """Consume until cancelled."""
    engine = create_async_engine(database_url)
    async with engine.begin() as database:
        await database.run_sync(metadata.create_all)
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=prefetch)
        exchange: AbstractExchange = await channel.get_exchange(EVENTS_EXCHANGE)
        queue = await channel.declare_queue(queue_name, passive=True)

        # A failure ends the process, for the bench to see at once rather than a stall.
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                delivery = Delivery.model_validate(orjson.loads(message.body))
                for event in await store(engine, delivery.cdrs(), dt.datetime.now(dt.UTC)):
                    await exchange.publish(
                        aio_pika.Message(
                            event.model_dump_json().encode(),
                            content_type="application/json",
                            delivery_mode=DeliveryMode.PERSISTENT,
                            message_id=event.event_id,
                        ),
                        routing_key=event.type,
                    )
                await message.ack()
            except Exception as exc:
                if not failed.done():
                    failed.set_exception(exc)

        await queue.consume(on_message)
        await failed
    finally:
        await connection.close()
        await engine.dispose()


def main() -> None:
    """Parse arguments and consume until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--database-url", required=True, help="postgresql+asyncpg://…")
    parser.add_argument("--queue", required=True)
    parser.add_argument("--prefetch", type=int, default=64)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    loop: LoopName = args.loop
    run(consume(args.amqp_url, args.database_url, args.queue, prefetch=args.prefetch), loop)


if __name__ == "__main__":
    main()

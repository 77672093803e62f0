"""Draining a backlog: confirmhub's worker and the baselines around it, timed alike.

A backlog of CDRs for new calls is published to the worker's queue, one per message or in
groups as the receiver's group commit queues them; then the consumer process starts. The
clock runs from the last poll that saw the backlog untouched to the first that saw one event
per CDR in the tap queue, so it is at most two poll intervals (0.1 s) long and leaves out the
process's start-up. Raw consume publishes nothing and times itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from typing import Literal

import asyncpg

from bench import amqp
from bench.lab import BenchError, Lab, Memory, Process, confirmhub_env, free_port, say
from bench.payloads import inbound_cdrs
from confirmhub.broker import MCN_CDR_QUEUE

_POLL_INTERVAL = 0.05
_DRAIN_TIMEOUT = 900.0
WORKER_PREFETCH = 200  # CONFIRMHUB_WORKER_PREFETCH's default, given explicitly

Consumer = Literal["confirmhub", "relay", "naive worker"]
CONSUMERS: tuple[Consumer, ...] = ("confirmhub", "relay", "naive worker")


@dataclass(frozen=True, slots=True)
class Drain:
    """A backlog consumed: how many CDRs in how many messages, in how long, and the
    consumer's memory."""

    cdrs: int
    messages: int
    seconds: float
    memory: Memory | None = None

    @property
    def rate(self) -> float:
        """CDRs (each one event) per second."""
        return self.cdrs / self.seconds


def asyncpg_url(database_url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def sql(database_url: str, *statements: str) -> None:
    """Run statements, each in a transaction of its own, on the database."""
    connection = await asyncpg.connect(asyncpg_url(database_url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def fill_backlog(amqp_url: str, cdrs: int, *, group: int = 1) -> int:
    """Purge the worker's queue, then publish ``cdrs`` CDRs, ``group`` to a message; how
    many messages."""
    await amqp.purge_and_settle(amqp_url, [MCN_CDR_QUEUE])
    messages = await amqp.publish_backlog(amqp_url, inbound_cdrs(cdrs, group=group))
    async with amqp.channel_on(amqp_url) as channel:
        ready = await amqp.depth(channel, MCN_CDR_QUEUE)
    if ready != messages:
        raise BenchError(f"{MCN_CDR_QUEUE} holds {ready} messages, expected {messages}")
    await amqp.settle()
    return messages


def start_consumer(
    lab: Lab, consumer: Consumer, *, name: str, amqp_url: str, database_url: str, loop: str
) -> Process:
    """Start ``confirmhub worker`` (as in production) or a baseline on the worker's queue."""
    if consumer == "confirmhub":
        env = confirmhub_env(
            amqp_url=amqp_url,
            database_url=database_url,
            metrics_port=str(free_port()),
            worker_prefetch=str(WORKER_PREFETCH),
        )
        return lab.confirmhub(name, "worker", env)
    argv = [
        sys.executable,
        "-m",
        f"bench.baselines.{'relay' if consumer == 'relay' else 'naive_worker'}",
        f"--amqp-url={amqp_url}",
        f"--queue={MCN_CDR_QUEUE}",
        f"--prefetch={WORKER_PREFETCH}",
        f"--loop={loop}",
    ]
    if consumer == "naive worker":
        argv.append(f"--database-url={database_url}")
    return lab.spawn(name, argv, confirmhub_env())


async def timed_drain(
    lab: Lab,
    consumer: Consumer,
    *,
    amqp_url: str,
    database_url: str,
    tap: amqp.EventTap,
    cdrs: int,
    group: int = 1,
    name: str,
    loop: str = "uvloop",
) -> Drain:
    """Start ``consumer`` on a fresh backlog of ``cdrs`` CDRs; time it until every event is
    in the tap."""
    messages = await fill_backlog(amqp_url, cdrs, group=group)
    await tap.purge()
    process = start_consumer(
        lab, consumer, name=name, amqp_url=amqp_url, database_url=database_url, loop=loop
    )
    try:
        async with amqp.channel_on(amqp_url) as channel:
            untouched_at = time.perf_counter()
            deadline = untouched_at + _DRAIN_TIMEOUT
            started = False
            while True:
                now = time.perf_counter()
                ready = await amqp.depth(channel, MCN_CDR_QUEUE)
                events = await tap.count()
                if not started and ready == messages and events == 0:
                    untouched_at = now
                started = started or ready < messages or events > 0
                if events >= cdrs:
                    seconds = now - untouched_at
                    break
                if not process.running():
                    raise BenchError(f"{name} exited:\n{process.log_tail()}")
                if now > deadline:
                    raise BenchError(f"{name} left {ready} of {messages} after {_DRAIN_TIMEOUT}s")
                await asyncio.sleep(_POLL_INTERVAL)
        drain = Drain(cdrs=cdrs, messages=messages, seconds=seconds, memory=process.memory())
        say(f"{name}: {cdrs:,} CDRs in {messages:,} messages, {seconds:.1f} s, {drain.rate:,.0f}/s")
        return drain
    finally:
        lab.stop(process)


async def raw_drain(lab: Lab, *, amqp_url: str, cdrs: int, name: str, loop: str) -> Drain:
    """Baseline (c): consume and ack a backlog of single-CDR messages, nothing else."""
    messages = await fill_backlog(amqp_url, cdrs)
    consumer = lab.spawn(
        name,
        [
            sys.executable,
            "-m",
            "bench.baselines.raw_consume",
            f"--amqp-url={amqp_url}",
            f"--queue={MCN_CDR_QUEUE}",
            f"--count={messages}",
            f"--prefetch={WORKER_PREFETCH}",
            f"--loop={loop}",
        ],
        confirmhub_env(),
    )
    try:
        await asyncio.to_thread(consumer.popen.wait)
        if consumer.popen.returncode != 0:
            raise BenchError(f"the raw consumer failed:\n{consumer.log_tail()}")
        report = json.loads(consumer.log_path.read_text().strip().splitlines()[-1])
        drain = Drain(cdrs=cdrs, messages=int(report["count"]), seconds=float(report["seconds"]))
        say(f"{name}: {drain.messages:,} messages, {drain.rate:,.0f}/s")
        return drain
    finally:
        lab.stop(consumer)

"""Worker drain rate: a pre-published backlog of CDRs, timed until every event is out.

Measurements 4 (50k CDRs on PostgreSQL against a raw consume-and-ack of the same queue) and
6 (20k CDRs with an empty ``password_calls`` table, then with one holding 1,000,000 calls).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass

import asyncpg

from bench import amqp
from bench.lab import BenchError, Lab, Memory, confirmhub_env, free_port, say
from bench.payloads import inbound_cdrs
from confirmhub.broker import MCN_CDR_QUEUE

_POLL_INTERVAL = 0.05
_DRAIN_TIMEOUT = 900.0
WORKER_PREFETCH = 64  # CONFIRMHUB_WORKER_PREFETCH's default, given explicitly


@dataclass(frozen=True, slots=True)
class Drain:
    """A backlog consumed: how many messages, in how long, and the consumer's memory."""

    messages: int
    seconds: float
    memory: Memory | None = None

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds


@dataclass(frozen=True, slots=True)
class WorkerDrainResult:
    """Measurement 4."""

    worker: Drain
    raw: Drain


@dataclass(frozen=True, slots=True)
class TableSizeResult:
    """Measurement 6: drains with an empty table and with a full one, in ABBA order."""

    empty: tuple[Drain, ...]
    full: tuple[Drain, ...]
    rows: int

    @staticmethod
    def _rate(drains: tuple[Drain, ...]) -> float:
        return sum(d.messages for d in drains) / sum(d.seconds for d in drains)

    @property
    def empty_rate(self) -> float:
        """Messages per second over every empty-table drain."""
        return self._rate(self.empty)

    @property
    def full_rate(self) -> float:
        """Messages per second over every full-table drain."""
        return self._rate(self.full)


def asyncpg_url(database_url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def fill_backlog(amqp_url: str, count: int) -> None:
    await amqp.purge_and_settle(amqp_url, [MCN_CDR_QUEUE])
    await amqp.publish_backlog(amqp_url, inbound_cdrs(count))
    async with amqp.channel_on(amqp_url) as channel:
        ready = await amqp.depth(channel, MCN_CDR_QUEUE)
    if ready != count:
        raise BenchError(f"{MCN_CDR_QUEUE} holds {ready} messages, expected {count}")
    await amqp.settle()


async def worker_drain(
    lab: Lab, *, amqp_url: str, database_url: str, tap: amqp.EventTap, count: int, name: str
) -> Drain:
    """Start ``confirmhub worker`` on a backlog of ``count`` CDRs; time until all events are out.

    The clock runs from the last poll that saw the backlog untouched to the first that saw
    every event, so it is at most two poll intervals (0.1 s) long.
    """
    await fill_backlog(amqp_url, count)
    await tap.purge()
    metrics_port = free_port()
    env = confirmhub_env(
        amqp_url=amqp_url,
        database_url=database_url,
        metrics_port=str(metrics_port),
        worker_prefetch=str(WORKER_PREFETCH),
    )
    worker = lab.confirmhub(name, "worker", env)
    try:
        async with amqp.channel_on(amqp_url) as channel:
            untouched_at = time.perf_counter()
            deadline = untouched_at + _DRAIN_TIMEOUT
            started = False
            while True:
                now = time.perf_counter()
                ready = await amqp.depth(channel, MCN_CDR_QUEUE)
                events = await tap.count()
                if not started and ready == count and events == 0:
                    untouched_at = now
                started = started or ready < count or events > 0
                if events >= count:
                    seconds = now - untouched_at
                    break
                if not worker.running():
                    raise BenchError(f"the worker exited:\n{worker.log_tail()}")
                if now > deadline:
                    raise BenchError(f"the worker left {ready} of {count} after {_DRAIN_TIMEOUT}s")
                await asyncio.sleep(_POLL_INTERVAL)
        say(f"{name}: {count:,} CDRs in {seconds:.1f} s, {count / seconds:,.0f} msg/s")
        return Drain(messages=count, seconds=seconds, memory=worker.memory())
    finally:
        lab.stop(worker)


async def raw_drain(lab: Lab, *, amqp_url: str, count: int, name: str) -> Drain:
    """Baseline (c) on a backlog of ``count`` CDRs in the worker's own queue."""
    await fill_backlog(amqp_url, count)
    consumer = lab.spawn(
        name,
        [
            sys.executable,
            "-m",
            "bench.baselines.raw_consume",
            f"--amqp-url={amqp_url}",
            f"--queue={MCN_CDR_QUEUE}",
            f"--count={count}",
            f"--prefetch={WORKER_PREFETCH}",
        ],
        confirmhub_env(),
    )
    try:
        await asyncio.to_thread(consumer.popen.wait)
        if consumer.popen.returncode != 0:
            raise BenchError(f"the raw consumer failed:\n{consumer.log_tail()}")
        report = json.loads(consumer.log_path.read_text().strip().splitlines()[-1])
        drain = Drain(messages=int(report["count"]), seconds=float(report["seconds"]))
        say(f"{name}: {drain.messages:,} messages, {drain.rate:,.0f} msg/s")
        return drain
    finally:
        lab.stop(consumer)


async def load_history(database_url: str, rows: int) -> int:
    """Fill ``password_calls`` with ``rows`` completed calls (random-looking keys); the count."""
    connection = await asyncpg.connect(asyncpg_url(database_url))
    try:
        await connection.execute(
            """
            INSERT INTO password_calls (
                verification_call_uuid, call_id, account_id, phone_number, code_hash,
                initiated_at, outcome, q931_status, final_status, completed_at,
                created_at, updated_at, check_attempts, verification_status
            )
            SELECT
                substr(md5(g::text), 1, 12) || '_' || lpad(to_hex(g), 8, '0'),
                substr(md5(g::text), 1, 12),
                lpad(to_hex(g), 8, '0'),
                '7999' || lpad((g % 10000000)::text, 7, '0'),
                'scrypt$16384$8$1$' || md5(g::text || 'salt') || md5(g::text || 'hash'),
                t, (ARRAY['answered','busy','no_answer','rejected'])[1 + g % 4],
                16 + g % 2, 'ANSWER', t + interval '20 seconds',
                t, t + interval '20 seconds', 0, 'pending'
            FROM generate_series(1, $1::int) AS g,
                 LATERAL (SELECT now() - (g || ' seconds')::interval AS t) AS times
            """,
            rows,
        )
        await connection.execute("VACUUM ANALYZE password_calls")
        count: int = await connection.fetchval("SELECT count(*) FROM password_calls")
        return count
    finally:
        await connection.close()


async def empty_tables(database_url: str) -> None:
    """Remove every call and outbox row, as on a fresh database."""
    connection = await asyncpg.connect(asyncpg_url(database_url))
    try:
        await connection.execute("TRUNCATE password_calls, outbox")
        await connection.execute("VACUUM ANALYZE password_calls")
        await connection.execute("VACUUM ANALYZE outbox")
    finally:
        await connection.close()


async def measure_worker_drain(lab: Lab, *, amqp_url: str, count: int) -> WorkerDrainResult:
    """Measurement 4 on a fresh, migrated PostgreSQL database."""
    await amqp.declare_confirmhub_topology(amqp_url)
    database_url = await lab.database("drain")
    lab.migrate(confirmhub_env(database_url=database_url))
    async with amqp.EventTap(amqp_url, "bench.events.drain", consume=False) as tap:
        worker = await worker_drain(
            lab, amqp_url=amqp_url, database_url=database_url, tap=tap, count=count, name="worker"
        )
    raw = await raw_drain(lab, amqp_url=amqp_url, count=count, name="raw-consume")
    return WorkerDrainResult(worker=worker, raw=raw)


async def measure_table_size(
    lab: Lab, *, amqp_url: str, count: int, history_rows: int
) -> TableSizeResult:
    """Measurement 6: drains on an empty table and on one holding ``history_rows`` calls,
    in the order empty, full, full, empty, so that a drift of the machine over the four
    falls on both alike."""
    await amqp.declare_confirmhub_topology(amqp_url)
    empty_url = await lab.database("empty")
    full_url = await lab.database("full")
    for url in (empty_url, full_url):
        lab.migrate(confirmhub_env(database_url=url))
    say(f"loading {history_rows:,} calls into password_calls")
    rows = await load_history(full_url, history_rows)
    drains: dict[str, list[Drain]] = {"empty": [], "full": []}
    async with amqp.EventTap(amqp_url, "bench.events.table", consume=False) as tap:
        for round_number, kind in enumerate(("empty", "full", "full", "empty"), start=1):
            url = empty_url if kind == "empty" else full_url
            if kind == "empty":
                await empty_tables(url)
            drains[kind].append(
                await worker_drain(
                    lab,
                    amqp_url=amqp_url,
                    database_url=url,
                    tap=tap,
                    count=count,
                    name=f"w-{kind}-{round_number}",
                )
            )
    return TableSizeResult(empty=tuple(drains["empty"]), full=tuple(drains["full"]), rows=rows)

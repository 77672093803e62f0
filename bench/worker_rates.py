"""Measurement 4: the worker's rate beside the baselines that bracket it, in both shapes.

Each run drains the same backlog — ``cdrs`` CDRs for new calls on the worker's quorum queue,
prefetch 200 — with ``confirmhub worker`` (PostgreSQL), the relay floor (d) and the naive
worker (e), first as single-CDR messages and then grouped as the receiver's group commit
queues them, with the three in a rotated order each run so that a drift of the machine falls
on all alike. Raw consume (c), which publishes nothing, runs once per run as context. Every
drain starts from empty tables.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Literal

from bench import amqp
from bench.drain import CONSUMERS, Consumer, Drain, raw_drain, sql, timed_drain
from bench.lab import Lab, confirmhub_env, say
from bench.table_size import empty_tables

Shape = Literal["single", "grouped"]


@dataclass(slots=True)
class WorkerRates:
    """Every drain of measurement 4, by shape and consumer, in run order."""

    cdrs: int
    group: int
    drains: dict[Shape, dict[Consumer, list[Drain]]] = field(default_factory=dict)
    raw: list[Drain] = field(default_factory=list)

    def median_rate(self, shape: Shape, consumer: Consumer) -> float:
        """The median of the runs' rates, CDRs (events) per second."""
        return statistics.median(drain.rate for drain in self.drains[shape][consumer])

    def rates(self, shape: Shape, consumer: Consumer) -> list[float]:
        """Each run's rate."""
        return [drain.rate for drain in self.drains[shape][consumer]]

    @property
    def raw_rate(self) -> float:
        """The median rate of raw consume."""
        return statistics.median(drain.rate for drain in self.raw)

    @property
    def runs(self) -> int:
        """How many runs each figure is the median of."""
        return len(self.raw)


async def measure_worker_rates(
    lab: Lab, *, amqp_url: str, cdrs: int, group: int, runs: int, loop: str
) -> WorkerRates:
    """``runs`` rounds of every consumer on both shapes; raw consume once a round."""
    await amqp.declare_confirmhub_topology(amqp_url)
    databases: dict[Consumer, str] = {
        "confirmhub": await lab.database("worker"),
        "naive worker": await lab.database("naive_worker"),
        "relay": "",  # it has none
    }
    lab.migrate(confirmhub_env(database_url=databases["confirmhub"]))
    result = WorkerRates(cdrs=cdrs, group=group)
    shapes: tuple[tuple[Shape, int], ...] = (("single", 1), ("grouped", group))
    async with amqp.EventTap(amqp_url, "bench.events.workers", consume=False) as tap:
        for run in range(runs):
            for shape, size in shapes:
                order = CONSUMERS[run % len(CONSUMERS) :] + CONSUMERS[: run % len(CONSUMERS)]
                for consumer in order:
                    await _empty(consumer, databases[consumer])
                    drain = await timed_drain(
                        lab,
                        consumer,
                        amqp_url=amqp_url,
                        database_url=databases[consumer],
                        tap=tap,
                        cdrs=cdrs,
                        group=size,
                        name=f"{consumer.replace(' ', '-')}-{shape}-{run + 1}",
                        loop=loop,
                    )
                    result.drains.setdefault(shape, {}).setdefault(consumer, []).append(drain)
            result.raw.append(
                await raw_drain(lab, amqp_url=amqp_url, cdrs=cdrs, name=f"raw-{run + 1}", loop=loop)
            )
    for shape, _ in shapes:
        say(
            f"{shape}: confirmhub {result.median_rate(shape, 'confirmhub'):,.0f}/s, relay "
            f"{result.median_rate(shape, 'relay'):,.0f}/s, naive worker "
            f"{result.median_rate(shape, 'naive worker'):,.0f}/s (medians of {runs})"
        )
    return result


async def _empty(consumer: Consumer, database_url: str) -> None:
    if consumer == "confirmhub":
        await empty_tables(database_url)
    elif consumer == "naive worker":
        # It creates its table at start-up.
        await sql(database_url, "DROP TABLE IF EXISTS naive_calls")

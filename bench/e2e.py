"""End to end: from a CDR's POST to its ``password_call.*`` event on a bound queue.

``confirmhub receiver`` and ``confirmhub worker`` run as two processes on one PostgreSQL
database, as scaled out, with an event tap bound to ``confirmhub.events``. A step is one
open-loop run: CDRs for new calls at a fixed rate, each correlated with its event by
``verification_call_uuid``; latency runs from each POST's scheduled start to its event's
arrival, and an event that has not arrived ``wait`` seconds after the last POST was due
counts as infinitely late. Measurement 3 repeats a step at 1,000 req/s; the knee
(``bench/knee.py``) steps the rate.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from dataclasses import dataclass
from types import TracebackType

from bench import amqp
from bench.lab import (
    BenchError,
    Lab,
    Memory,
    Process,
    confirmhub_env,
    free_port,
    say,
    wait_until_ready,
)
from bench.openloop import open_loop, percentile
from bench.payloads import mcn_cdr, mcn_cdr_bodies
from bench.servers import Server, start_confirmhub
from confirmhub.broker import MCN_CDR_QUEUE

_WARMUP_CALLS = 200
_CATCH_UP_TIMEOUT = 600.0


@dataclass(frozen=True, slots=True)
class Step:
    """One open-loop run through receiver and worker: POST → event percentiles (ms)."""

    rate: int
    seconds: float
    sent: int
    arrived: int
    p50: float
    p90: float
    p99: float
    p999: float
    http_p99: float

    def describe(self) -> str:
        """A line of progress."""
        late = "" if self.arrived == self.sent else f", {self.sent - self.arrived:,} late"
        return (
            f"{self.rate:,} req/s: p50 {self.p50:.1f} ms, p99 {self.p99:.1f} ms, "
            f"p99.9 {self.p999:.1f} ms (HTTP p99 {self.http_p99:.1f} ms){late}"
        )


class Pipeline:
    """Receiver, worker and event tap on a fresh database, warmed up; stopped on exit."""

    def __init__(self, lab: Lab, *, amqp_url: str, label: str) -> None:
        self._lab = lab
        self._amqp_url = amqp_url
        self._label = label
        self.receiver: Server | None = None
        self.worker: Process | None = None
        self._tap = amqp.EventTap(amqp_url, f"bench.events.{label}", consume=True)

    async def __aenter__(self) -> Pipeline:
        database_url = await self._lab.database(self._label)
        await amqp.declare_confirmhub_topology(self._amqp_url)
        self.receiver = await start_confirmhub(
            self._lab,
            amqp_url=self._amqp_url,
            database_url=database_url,
            label=f"{self._label}-receiver",
        )
        metrics_port = free_port()
        env = confirmhub_env(
            amqp_url=self._amqp_url, database_url=database_url, metrics_port=str(metrics_port)
        )
        self.worker = self._lab.confirmhub(f"{self._label}-worker", "worker", env)
        await wait_until_ready(f"http://127.0.0.1:{metrics_port}/healthz", self.worker)
        await self._tap.__aenter__()
        warmup = mcn_cdr_bodies(_WARMUP_CALLS)
        await open_loop(
            "127.0.0.1", self.receiver.port, mcn_cdr(), rate=200, bodies=[b for _, b in warmup]
        )
        await self._tap.wait_for([c for c, _ in warmup], until=time.perf_counter() + 60)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._tap.__aexit__(exc_type, exc, traceback)
        if self.worker is not None:
            self._lab.stop(self.worker)
        if self.receiver is not None:
            self._lab.stop(self.receiver.process)

    async def step(self, rate: int, *, seconds: float, wait: float) -> Step:
        """Offer ``rate`` req/s for ``seconds`` once the worker has caught up with the last
        step and the broker is quiet; wait up to ``wait`` for the events."""
        assert self.receiver is not None
        await self._caught_up()
        self._tap.arrivals.clear()
        await amqp.settle()
        calls = mcn_cdr_bodies(max(1, round(rate * seconds)))
        result = await open_loop(
            "127.0.0.1", self.receiver.port, mcn_cdr(), rate=rate, bodies=[b for _, b in calls]
        )
        deadline = result.scheduled(len(calls) - 1) + wait
        await self._tap.wait_for([c for c, _ in calls], until=deadline)
        arrivals = self._tap.arrivals
        latencies = sorted(
            (arrivals[call] - result.scheduled(index)) * 1000 if call in arrivals else math.inf
            for index, (call, _) in enumerate(calls)
        )
        (http_p99,) = result.percentiles_ms(0.99)
        step = Step(
            rate=rate,
            seconds=seconds,
            sent=len(calls),
            arrived=sum(1 for call, _ in calls if call in arrivals),
            p50=percentile(latencies, 0.5),
            p90=percentile(latencies, 0.9),
            p99=percentile(latencies, 0.99),
            p999=percentile(latencies, 0.999),
            http_p99=http_p99,
        )
        say(f"end to end at {step.describe()}")
        return step

    async def _caught_up(self) -> None:
        # A step past the knee may leave a backlog, which must not be charged to the next.
        deadline = time.perf_counter() + _CATCH_UP_TIMEOUT
        async with amqp.channel_on(self._amqp_url) as channel:
            while await amqp.depth(channel, MCN_CDR_QUEUE) > 0:
                if time.perf_counter() > deadline:
                    raise BenchError(f"the worker left a backlog for {_CATCH_UP_TIMEOUT:.0f} s")
                await asyncio.sleep(0.2)

    def memory(self) -> tuple[Memory, Memory]:
        """The receiver's and the worker's memory now."""
        assert self.receiver is not None
        assert self.worker is not None
        return self.receiver.process.memory(), self.worker.memory()


@dataclass(frozen=True, slots=True)
class EndToEnd:
    """Measurement 3: steps at one rate; the table shows their medians."""

    rate: int
    wait: float
    steps: tuple[Step, ...]
    receiver_memory: Memory
    worker_memory: Memory

    @property
    def p50(self) -> float:
        """The median of the steps' p50."""
        return statistics.median(step.p50 for step in self.steps)

    @property
    def p99(self) -> float:
        """The median of the steps' p99."""
        return statistics.median(step.p99 for step in self.steps)

    @property
    def http_p99(self) -> float:
        """The median of the steps' HTTP p99."""
        return statistics.median(step.http_p99 for step in self.steps)

    @property
    def late(self) -> int:
        """Events later than ``wait`` over every step."""
        return sum(step.sent - step.arrived for step in self.steps)


async def measure_e2e(
    lab: Lab, *, amqp_url: str, rate: int, seconds: float, wait: float, runs: int
) -> EndToEnd:
    """``runs`` steps at ``rate`` for ``seconds`` each through one pipeline."""
    async with Pipeline(lab, amqp_url=amqp_url, label="e2e") as pipeline:
        steps = [await pipeline.step(rate, seconds=seconds, wait=wait) for _ in range(runs)]
        receiver_memory, worker_memory = pipeline.memory()
    return EndToEnd(
        rate=rate,
        wait=wait,
        steps=tuple(steps),
        receiver_memory=receiver_memory,
        worker_memory=worker_memory,
    )

"""Measurement 5: the receiver's memory through a soak, sampled once a second.

A fresh ``confirmhub receiver`` takes closed-loop MCN CDRs (wrk, in 10-second rounds with
the queues purged between them) until both the soak time has passed and the request count
is reached. RSS is read when the count is first reached, and growth is the RSS at the end
less the RSS half-way through the soak (each averaged over five samples).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from dataclasses import dataclass

from bench import amqp
from bench.lab import Lab, Memory, Process
from bench.payloads import mcn_cdr
from bench.servers import RECEIVER_QUEUES, start_confirmhub
from bench.wrk import run_wrk

_ROUND_SECONDS = 10.0
_SAMPLE_INTERVAL = 1.0
_SMOOTHING = 5


@dataclass(frozen=True, slots=True)
class Soak:
    """RSS samples (seconds since start, MiB) and what they show."""

    requests: int
    seconds: float
    count_target: int
    rss_at_count: float
    requests_at_count: int
    memory: Memory
    samples: list[tuple[float, float]]

    def _around(self, moment: float) -> float:
        nearest = sorted(self.samples, key=lambda sample: abs(sample[0] - moment))
        return statistics.fmean(rss for _, rss in nearest[:_SMOOTHING])

    @property
    def growth_last_half(self) -> float:
        """MiB gained from the middle of the soak to its end."""
        return self._around(self.seconds) - self._around(self.seconds / 2)

    @property
    def slope_last_half(self) -> float:
        """Least-squares RSS slope over the second half, MiB per minute."""
        half = [(t, rss) for t, rss in self.samples if t >= self.seconds / 2]
        if len(half) < 2:
            return 0.0
        times, values = zip(*half, strict=True)
        return statistics.linear_regression(times, values).slope * 60


async def _sample(process: Process, start: float, samples: list[tuple[float, float]]) -> None:
    while process.running():
        samples.append((time.perf_counter() - start, process.memory().rss_mib))
        await asyncio.sleep(_SAMPLE_INTERVAL)


async def measure_soak(
    lab: Lab, *, amqp_url: str, seconds: float, requests: int, connections: int, threads: int
) -> Soak:
    """Soak a fresh receiver for at least ``seconds`` and ``requests``."""
    server = await start_confirmhub(lab, amqp_url=amqp_url, label="soak-receiver")
    samples: list[tuple[float, float]] = []
    start = time.perf_counter()
    sampler = asyncio.create_task(_sample(server.process, start, samples))
    total, rss_at_count, at_count = 0, 0.0, 0
    try:
        while (elapsed := time.perf_counter() - start) < seconds or total < requests:
            await amqp.purge(amqp_url, RECEIVER_QUEUES)
            round_seconds = _ROUND_SECONDS
            if total >= requests:
                round_seconds = min(_ROUND_SECONDS, max(1.0, seconds - elapsed))
            result = await run_wrk(
                server.base_url,
                mcn_cdr(),
                seconds=round_seconds,
                connections=connections,
                threads=threads,
                body_dir=lab.tmp,
            )
            total += result.good
            if not at_count and total >= requests:
                rss_at_count, at_count = server.process.memory().rss_mib, total
        elapsed = time.perf_counter() - start
        memory = server.process.memory()
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        lab.stop(server.process)
        await amqp.purge(amqp_url, RECEIVER_QUEUES)
    return Soak(
        requests=total,
        seconds=elapsed,
        count_target=requests,
        rss_at_count=rss_at_count,
        requests_at_count=at_count,
        memory=memory,
        samples=samples,
    )

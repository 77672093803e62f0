"""Measurements 1 and 2: receiver throughput (closed loop, wrk) and latency at fixed rates.

Throughput runs ``runs`` times per server and payload, and latency ``runs`` times at the
rate with a target (1,000 req/s; once at the others): the table shows medians.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench import amqp
from bench.lab import Lab, Memory, say
from bench.openloop import open_loop
from bench.payloads import Payload, bitrix24_form, mcn_cdr, mcn_cdr_bodies
from bench.servers import RECEIVER_QUEUES, SERVER_NAMES, Server, ServerName, start_server
from bench.wrk import WrkResult, run_wrk

_WARMUP_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Latency:
    """Latency percentiles of one open-loop run, in milliseconds."""

    offered: float
    achieved: float
    p50: float
    p99: float
    p999: float
    sent: int
    errors: int


@dataclass(frozen=True, slots=True)
class ReceiverOptions:
    """How long and how hard to drive the receivers."""

    seconds: float
    connections: int
    threads: int
    rates: tuple[int, ...]
    latency_seconds: float
    loop: str
    runs: int = 1
    repeated_rate: int = 1000


@dataclass(slots=True)
class ReceiverResults:
    """Throughput by server and payload and latency by server and offered rate, each a list
    of runs; the servers' memory at the end."""

    throughput: dict[ServerName, dict[str, list[WrkResult]]] = field(default_factory=dict)
    latency: dict[ServerName, dict[int, list[Latency]]] = field(default_factory=dict)
    memory: dict[ServerName, Memory] = field(default_factory=dict)

    def throughput_rate(self, server: ServerName, payload: str) -> float | None:
        """The median of the runs' request rates (None if not measured)."""
        runs = self.throughput.get(server, {}).get(payload)
        return statistics.median(run.rate for run in runs) if runs else None

    def latency_at(self, server: ServerName, rate: int) -> Latency | None:
        """Each percentile's median over the runs at ``rate``; every run's unanswered."""
        runs = self.latency.get(server, {}).get(rate)
        if not runs:
            return None
        return Latency(
            offered=rate,
            achieved=statistics.median(run.achieved for run in runs),
            p50=statistics.median(run.p50 for run in runs),
            p99=statistics.median(run.p99 for run in runs),
            p999=statistics.median(run.p999 for run in runs),
            sent=sum(run.sent for run in runs),
            errors=sum(run.errors for run in runs),
        )


def payloads() -> tuple[Payload, Payload]:
    """The two webhook bodies of measurement 1."""
    return mcn_cdr(), bitrix24_form()


async def fixed_rate(server: Server, *, rate: int, seconds: float, amqp_url: str) -> Latency:
    """Open-loop MCN CDRs (one new call each) at ``rate``, after a one-second warm-up."""
    payload = mcn_cdr()
    await amqp.purge_and_settle(amqp_url, RECEIVER_QUEUES)
    warmup = [body for _, body in mcn_cdr_bodies(rate)]
    await open_loop("127.0.0.1", server.port, payload, rate=rate, bodies=warmup)
    await amqp.purge_and_settle(amqp_url, RECEIVER_QUEUES)
    bodies = [body for _, body in mcn_cdr_bodies(round(rate * seconds))]
    result = await open_loop("127.0.0.1", server.port, payload, rate=rate, bodies=bodies)
    p50, p99, p999 = result.percentiles_ms(0.5, 0.99, 0.999)
    return Latency(rate, result.achieved_rate, p50, p99, p999, result.sent, result.errors)


async def _throughput(
    lab: Lab, server: Server, payload: Payload, *, options: ReceiverOptions, amqp_url: str
) -> WrkResult:
    result: WrkResult | None = None
    for seconds in (_WARMUP_SECONDS, options.seconds):
        await amqp.purge_and_settle(amqp_url, RECEIVER_QUEUES)
        result = await run_wrk(
            server.base_url,
            payload,
            seconds=seconds,
            connections=options.connections,
            threads=options.threads,
            body_dir=lab.tmp,
        )
    assert result is not None
    say(f"throughput {server.name}, {payload.name}: {result.rate:,.0f} req/s")
    return result


async def measure_receivers(
    lab: Lab, *, amqp_url: str, options: ReceiverOptions, throughput: bool, latency: bool
) -> ReceiverResults:
    """Start every server, then take turns: each payload, then each rate, server by server,
    so that a busy spell of the machine falls on all of them rather than on one."""
    results = ReceiverResults()
    servers: list[Server] = []
    try:
        for name in SERVER_NAMES:
            servers.append(await start_server(lab, name, amqp_url=amqp_url, loop=options.loop))
        for _ in range(options.runs if throughput else 0):
            for payload in payloads():
                for server in servers:
                    run = await _throughput(
                        lab, server, payload, options=options, amqp_url=amqp_url
                    )
                    results.throughput.setdefault(server.name, {}).setdefault(
                        payload.name, []
                    ).append(run)
        for rate in options.rates if latency else ():
            for _ in range(options.runs if rate == options.repeated_rate else 1):
                for server in servers:
                    point = await fixed_rate(
                        server, rate=rate, seconds=options.latency_seconds, amqp_url=amqp_url
                    )
                    results.latency.setdefault(server.name, {}).setdefault(rate, []).append(point)
                    say(
                        f"latency {server.name} at {rate:,} req/s: p50 {point.p50:.2f} ms, "
                        f"p99 {point.p99:.2f} ms, p99.9 {point.p999:.2f} ms"
                    )
    finally:
        for server in servers:
            if server.process.running():
                results.memory[server.name] = server.process.memory()
            lab.stop(server.process)
        await amqp.purge(amqp_url, RECEIVER_QUEUES)
    return results

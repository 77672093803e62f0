"""Measurements 1 and 2: receiver throughput (closed loop, wrk) and latency at fixed rates."""

from __future__ import annotations

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


@dataclass(slots=True)
class ReceiverResults:
    """Throughput by server and payload; latency by server and offered rate."""

    throughput: dict[ServerName, dict[str, WrkResult]] = field(default_factory=dict)
    latency: dict[ServerName, dict[int, Latency]] = field(default_factory=dict)
    memory: dict[ServerName, Memory] = field(default_factory=dict)


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
        for payload in payloads() if throughput else ():
            for server in servers:
                results.throughput.setdefault(server.name, {})[payload.name] = await _throughput(
                    lab, server, payload, options=options, amqp_url=amqp_url
                )
        for rate in options.rates if latency else ():
            for server in servers:
                point = await fixed_rate(
                    server, rate=rate, seconds=options.latency_seconds, amqp_url=amqp_url
                )
                results.latency.setdefault(server.name, {})[rate] = point
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

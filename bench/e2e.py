"""Measurement 3: from a CDR's POST to its ``password_call.*`` event on a bound queue.

``confirmhub receiver`` and ``confirmhub worker`` run as two processes on one PostgreSQL
database, as scaled out. Open-loop CDRs, one new call each, are correlated with their events
by ``verification_call_uuid``; latency runs from each POST's scheduled start to its event's
arrival, and an event that has not arrived ``wait`` seconds after the last POST was due
counts as infinitely late.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from bench import amqp
from bench.lab import Lab, Memory, confirmhub_env, free_port, wait_until_ready
from bench.openloop import open_loop, percentile
from bench.payloads import mcn_cdr, mcn_cdr_bodies
from bench.servers import start_confirmhub

_WARMUP_CALLS = 200


@dataclass(frozen=True, slots=True)
class EndToEnd:
    """End-to-end latency percentiles (ms) and how many events arrived in time."""

    rate: float
    sent: int
    arrived: int
    wait: float
    p50: float
    p99: float
    http_p99: float
    receiver_memory: Memory
    worker_memory: Memory


async def measure_e2e(
    lab: Lab, *, amqp_url: str, rate: int, seconds: float, wait: float
) -> EndToEnd:
    """Drive receiver + worker at ``rate`` for ``seconds``; wait up to ``wait`` for events."""
    database_url = await lab.database("e2e")
    await amqp.declare_confirmhub_topology(amqp_url)
    receiver = await start_confirmhub(
        lab, amqp_url=amqp_url, database_url=database_url, label="e2e-receiver"
    )
    metrics_port = free_port()
    worker = lab.confirmhub(
        "e2e-worker",
        "worker",
        confirmhub_env(
            amqp_url=amqp_url, database_url=database_url, metrics_port=str(metrics_port)
        ),
    )
    await wait_until_ready(f"http://127.0.0.1:{metrics_port}/healthz", worker)
    payload = mcn_cdr()
    async with amqp.EventTap(amqp_url, "bench.events.e2e", consume=True) as tap:
        warmup = mcn_cdr_bodies(_WARMUP_CALLS)
        await open_loop(
            "127.0.0.1", receiver.port, payload, rate=200, bodies=[b for _, b in warmup]
        )
        await tap.wait_for([c for c, _ in warmup], until=time.perf_counter() + 60)
        tap.arrivals.clear()
        await amqp.settle()
        calls = mcn_cdr_bodies(round(rate * seconds))
        result = await open_loop(
            "127.0.0.1", receiver.port, payload, rate=rate, bodies=[b for _, b in calls]
        )
        deadline = result.scheduled(len(calls) - 1) + wait
        await tap.wait_for([c for c, _ in calls], until=deadline)
        latencies = sorted(
            (tap.arrivals[call] - result.scheduled(index)) * 1000
            if call in tap.arrivals
            else math.inf
            for index, (call, _) in enumerate(calls)
        )
        arrived = sum(1 for call, _ in calls if call in tap.arrivals)
    (http_p99,) = result.percentiles_ms(0.99)
    outcome = EndToEnd(
        rate=rate,
        sent=len(calls),
        arrived=arrived,
        wait=wait,
        p50=percentile(latencies, 0.5),
        p99=percentile(latencies, 0.99),
        http_p99=http_p99,
        receiver_memory=receiver.process.memory(),
        worker_memory=worker.memory(),
    )
    lab.stop(worker)
    lab.stop(receiver.process)
    return outcome

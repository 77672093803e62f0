"""One bench run: each chosen measurement in a vhost (and database) of its own, then the report."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import asyncpg
from aio_pika.exceptions import AMQPError

from bench import environment
from bench.drain import WORKER_PREFETCH
from bench.e2e import measure_e2e
from bench.knee import KneeSearch, measure_knee
from bench.lab import BenchError, Lab, Services, say
from bench.memory import measure_soak
from bench.profile import run_profiles, write_summaries
from bench.publish import RunRecord, write_results
from bench.receiver import ReceiverOptions, measure_receivers
from bench.report import Results, build_table
from bench.table_size import measure_table_size
from bench.verdicts import KNEE_P99_MS, LATENCY_RATE
from bench.worker_rates import measure_worker_rates

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"


def _rates(text: str) -> tuple[int, ...]:
    return tuple(sorted({int(part) for part in text.split(",") if part.strip()}))


def _settings(args: argparse.Namespace) -> dict[str, str]:
    return {
        "runs": f"{args.runs}: the table shows the median of that many runs for receiver "
        f"throughput (1), receiver latency at {LATENCY_RATE:,} req/s (2), end to end (3) and "
        "worker drains (4); the knee (3) is a rate that passed twice",
        "receiver (1)": f"wrk {args.seconds:g} s after a 2 s warm-up, {args.connections} "
        f"connections, {args.threads} threads; one fixed body per run",
        "receiver (2)": f"open loop at {args.rates} req/s, {args.latency_seconds:g} s each after "
        "1 s at the same rate; 256 connections; a new call per request",
        "end-to-end (3)": f"{args.e2e_rate} req/s for {args.e2e_seconds:g} s; receiver + worker "
        f"processes on PostgreSQL; events waited for up to {args.e2e_wait:g} s",
        "knee (3)": f"steps of {args.knee_seconds:g} s from {args.knee_step:,} req/s up by "
        f"{args.knee_step:,}, bisection to {args.knee_fine:,}, the highest passing rate "
        f"repeated; at most {args.knee_max:,} req/s; events waited for up to "
        f"{args.knee_wait:g} s",
        "worker drains (4)": f"{args.drain_cdrs:,} CDRs for new calls, one per message and "
        f"{args.group} per message; confirmhub (PostgreSQL), relay, naive worker (PostgreSQL) "
        f"in rotated order each run; prefetch {WORKER_PREFETCH}; quorum queues",
        "memory (5)": f"soak of at least {args.soak:g} s and {args.soak_requests:,} requests "
        f"(wrk, {args.connections} connections), RSS sampled every second",
        "table size (6)": f"{args.table_cdrs:,} CDRs for new calls per drain, empty table vs "
        f"{args.table_rows:,} calls, drains in the order empty, full, full, empty",
        "servers": "confirmhub as in production: uvloop, JSON logs at info (to a file); "
        f"baselines on {args.baseline_loop}",
        "queues": "quorum, purged before every run",
    }


async def _measure(lab: Lab, args: argparse.Namespace) -> Results:
    chosen: frozenset[str] = args.only
    results = Results()
    if chosen & {"throughput", "latency"}:
        say("measurements 1-2: receiver throughput and latency")
        options = ReceiverOptions(
            seconds=args.seconds,
            connections=args.connections,
            threads=args.threads,
            rates=_rates(args.rates),
            latency_seconds=args.latency_seconds,
            loop=args.baseline_loop,
            runs=args.runs,
            repeated_rate=LATENCY_RATE,
        )
        results.receivers = await measure_receivers(
            lab,
            amqp_url=lab.vhost("receivers"),
            options=options,
            throughput="throughput" in chosen,
            latency="latency" in chosen,
        )
    if "e2e" in chosen:
        say("measurement 3: end-to-end latency")
        results.e2e = await measure_e2e(
            lab,
            amqp_url=lab.vhost("e2e"),
            rate=args.e2e_rate,
            seconds=args.e2e_seconds,
            wait=args.e2e_wait,
            runs=args.runs,
        )
    if "knee" in chosen:
        say(f"measurement 3: the knee, the highest rate with end-to-end p99 ≤ {KNEE_P99_MS:g} ms")
        search = KneeSearch(
            limit_ms=KNEE_P99_MS,
            coarse=args.knee_step,
            fine=args.knee_fine,
            highest=args.knee_max,
            seconds=args.knee_seconds,
            wait=args.knee_wait,
        )
        results.knee = await measure_knee(lab, amqp_url=lab.vhost("knee"), search=search)
    if "memory" in chosen:
        say("measurement 5: receiver memory soak")
        results.soak = await measure_soak(
            lab,
            amqp_url=lab.vhost("soak"),
            seconds=args.soak,
            requests=args.soak_requests,
            connections=args.connections,
            threads=args.threads,
        )
    if "drain" in chosen:
        say("measurement 4: worker drains beside the relay floor and the naive worker")
        results.workers = await measure_worker_rates(
            lab,
            amqp_url=lab.vhost("drain"),
            cdrs=args.drain_cdrs,
            group=args.group,
            runs=args.runs,
            loop=args.baseline_loop,
        )
    if "table" in chosen:
        say("measurement 6: worker rate, empty table vs full")
        results.table = await measure_table_size(
            lab, amqp_url=lab.vhost("table"), count=args.table_cdrs, history_rows=args.table_rows
        )
    return results


async def _profile(args: argparse.Namespace, services: Services) -> int:
    out: Path = args.profile
    async with Lab(services, keep_logs=args.keep_logs) as lab:
        summaries = await run_profiles(
            lab,
            amqp_url=lab.vhost("profile"),
            seconds=max(args.seconds, 10.0),
            out=out,
            only=args.only,
        )
    write_summaries(out, summaries)
    for name, summary in summaries.items():
        print(f"## {name}\n\n{summary}\n")
    say(f"profiles in {out}")
    return 0


async def run(args: argparse.Namespace, *, command: str) -> int:
    """Measure, print the table and the verdicts, write the results; the exit status."""
    services = Services(args.amqp_base, args.postgres_url)
    if args.profile is not None:
        return await _profile(args, services)
    started = dt.datetime.now(dt.UTC)
    load_before = environment.load_average()
    if environment.busy():
        say(f"warning: load average {load_before}: other work is running, expect noisy figures")
    versions = await environment.versions(args.postgres_url)
    services_started = environment.service_starts()
    try:
        async with Lab(services, keep_logs=args.keep_logs) as lab:
            results = await _measure(lab, args)
    except (AMQPError, OSError, asyncpg.PostgresError) as exc:
        raise BenchError(
            f"lost RabbitMQ or PostgreSQL during the run ({type(exc).__name__}: {exc}); "
            "was something restarting them? Run again when they are left alone"
        ) from exc
    restarted = [
        name
        for name, started in environment.service_starts().items()
        if services_started.get(name) != started
    ]
    if restarted:
        say(f"warning: {' and '.join(restarted)} restarted during the run: figures are suspect")
    table = build_table(results, seconds=args.seconds)
    print(table.markdown())
    print()
    for verdict in table.verdicts:
        print(f"{verdict.cell().split(':')[0]}  {verdict.target}: {verdict.detail}")
    out: Path | None = None if args.no_write else args.out or (None if args.quick else DEFAULT_OUT)
    if out is not None:
        record = RunRecord(
            command=command,
            started=started,
            finished=dt.datetime.now(dt.UTC),
            machine=environment.machine(),
            versions=versions,
            load_before=load_before,
            load_after=environment.load_average(),
            settings=_settings(args),
            restarted=tuple(restarted),
        )
        for path in write_results(out, table, record, results):
            say(f"wrote {path}")
    failed = [verdict for verdict in table.verdicts if not verdict.passed]
    return 1 if args.strict and failed else 0

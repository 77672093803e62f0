"""One bench run: each chosen measurement in a vhost (and database) of its own, then the report."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import asyncpg
from aio_pika.exceptions import AMQPError

from bench import environment
from bench.drain import WORKER_PREFETCH, measure_table_size, measure_worker_drain
from bench.e2e import measure_e2e
from bench.lab import BenchError, Lab, Services, say
from bench.memory import measure_soak
from bench.profile import run_profiles, write_summaries
from bench.publish import RunRecord, write_results
from bench.receiver import ReceiverOptions, measure_receivers
from bench.report import Results, build_table

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"


def _rates(text: str) -> tuple[int, ...]:
    return tuple(sorted({int(part) for part in text.split(",") if part.strip()}))


def _settings(args: argparse.Namespace) -> dict[str, str]:
    return {
        "receiver (1)": f"wrk {args.seconds:g} s after a 2 s warm-up, {args.connections} "
        f"connections, {args.threads} threads; one fixed body per run",
        "receiver (2)": f"open loop at {args.rates} req/s, {args.latency_seconds:g} s each after "
        "1 s at the same rate; 256 connections; a new call per request",
        "end-to-end (3)": f"{args.e2e_rate} req/s for {args.e2e_seconds:g} s; receiver + worker "
        f"processes on PostgreSQL; events waited for up to {args.e2e_wait:g} s",
        "worker drain (4)": f"{args.drain_cdrs:,} CDRs for new calls, PostgreSQL, prefetch "
        f"{WORKER_PREFETCH}",
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
        )
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
        say("measurement 4: worker drain vs raw consume")
        results.drain = await measure_worker_drain(
            lab, amqp_url=lab.vhost("drain"), count=args.drain_cdrs
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
        for path in write_results(out, table, record, results.receivers):
            say(f"wrote {path}")
    failed = [verdict for verdict in table.verdicts if not verdict.passed]
    return 1 if args.strict and failed else 0

"""``python -m bench``: run the measurements, print the table, write ``docs/benchmarks/``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import deps
from bench.lab import BenchError, say

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
MEASUREMENTS = ("throughput", "latency", "e2e", "knee", "drain", "memory", "table")
# --quick: every measurement, small, to check that the bench itself works.
QUICK = {
    "runs": 1,
    "seconds": 3.0,
    "rates": "250,1000",
    "latency_seconds": 3.0,
    "e2e_seconds": 3.0,
    "e2e_wait": 20.0,
    "knee_seconds": 3.0,
    "knee_fine": 250,
    "knee_max": 1500,
    "knee_wait": 20.0,
    "drain_cdrs": 1500,
    "table_cdrs": 1000,
    "table_rows": 50_000,
    "soak": 10.0,
    "soak_requests": 10_000,
}


def _measurements(text: str) -> frozenset[str]:
    chosen = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = chosen - set(MEASUREMENTS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown: {', '.join(sorted(unknown))}")
    return chosen


def build_parser() -> argparse.ArgumentParser:
    """Options; the defaults are the published run."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark confirmhub beside its baselines on loopback: receiver "
        "throughput and latency, end-to-end latency and its knee, worker drain rates beside "
        "the relay floor and a naive worker, memory. Prints a markdown table and writes "
        "docs/benchmarks/results.md, latency.png and e2e.png.",
    )
    add = parser.add_argument
    add(
        "--only",
        type=_measurements,
        default=frozenset(MEASUREMENTS),
        metavar="LIST",
        help=f"comma-separated subset of: {','.join(MEASUREMENTS)}",
    )
    add(
        "--runs",
        type=int,
        default=3,
        help="each figure with a target is the median of this many runs (3)",
    )
    add("--soak", type=float, default=60.0, help="memory soak length in seconds (60)")
    add("--soak-requests", type=int, default=200_000, help="RSS is read after this many (200000)")
    add("--seconds", type=float, default=10.0, help="each wrk throughput run (10)")
    add("--connections", type=int, default=64, help="wrk connections (64)")
    add("--threads", type=int, default=2, help="wrk threads (2)")
    add("--rates", default="250,500,1000,2000", help="open-loop rates, req/s")
    add("--latency-seconds", type=float, default=10.0, help="each open-loop rate (10)")
    add("--e2e-rate", type=int, default=1000, help="end-to-end offered rate (1000)")
    add("--e2e-seconds", type=float, default=10.0, help="end-to-end run length (10)")
    add("--e2e-wait", type=float, default=120.0, help="seconds to wait for late events (120)")
    add("--knee-seconds", type=float, default=10.0, help="each step of the knee search (10)")
    add("--knee-step", type=int, default=500, help="knee search: first rate and step up (500)")
    add("--knee-fine", type=int, default=125, help="knee search: bisection down to (125)")
    add("--knee-max", type=int, default=8000, help="knee search: highest rate tried (8000)")
    add("--knee-wait", type=float, default=60.0, help="knee search: wait for late events (60)")
    add("--drain-cdrs", type=int, default=12_000, help="worker drain backlog in CDRs (12000)")
    add("--group", type=int, default=4, help="CDRs per grouped message (4)")
    add("--table-cdrs", type=int, default=20_000, help="backlog per table-size drain (20000)")
    add("--table-rows", type=int, default=1_000_000, help="calls in the full table (1000000)")
    add(
        "--baseline-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop of the baselines; confirmhub runs on uvloop (uvloop)",
    )
    add("--quick", action="store_true", help="a few seconds of each: checks the bench works")
    add("--out", type=Path, help=f"where to write results (default {DEFAULT_OUT}; none if --quick)")
    add("--no-write", action="store_true", help="print the table only")
    add("--keep-logs", type=Path, help="copy the processes' logs here at the end")
    add(
        "--profile",
        type=Path,
        metavar="DIR",
        help=(
            "instead of measuring: py-spy profiles under load of the receiver "
            "(with --only throughput) and of the worker (--only drain)"
        ),
    )
    add("--strict", action="store_true", help="exit 1 if any target fails")
    add("--amqp-base", default="amqp://guest:guest@127.0.0.1:5672", help="RabbitMQ, no vhost")
    add(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL role that may create databases",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 when the run completed (1 on a failed target with --strict)."""
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    if "--quick" in given:
        parser.set_defaults(**QUICK)  # options given explicitly still win
    args = parser.parse_args(given)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    try:
        deps.ensure_requirements()
        deps.ensure_wrk()
        deps.ensure_services(
            amqp_port=urlsplit(args.amqp_base).port or 5672,
            postgres_port=urlsplit(args.postgres_url).port or 5432,
        )
        from bench.run import run

        command = " ".join([".venv/bin/python -m bench", *given])
        return _run_until_signalled(run(args, command=command))
    except BenchError as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted; everything it started has been stopped and removed")
        return 130


def _run_until_signalled(coroutine: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop; SIGINT or SIGTERM cancels the run, so that its cleanup runs."""
    import uvloop

    signalled: list[int] = []

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None

        def interrupt(signum: int) -> None:
            signalled.append(signum)
            task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, interrupt, signum)
        try:
            return await coroutine
        except asyncio.CancelledError:
            if signalled:
                raise KeyboardInterrupt from None
            # Not ours: aiormq cancels what was waiting on a connection the broker dropped.
            raise BenchError(
                "a measurement was cancelled from inside: did RabbitMQ or PostgreSQL restart "
                "(another test suite on this machine)? Run again when they are left alone"
            ) from None

    return uvloop.run(guarded())

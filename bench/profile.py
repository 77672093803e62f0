"""``--profile``: py-spy samples of the receiver under wrk and of the worker draining a backlog.

Writes each profile as collapsed stacks (``*.folded``: one ``frame;frame;… count`` line per
stack, which flamegraph.pl and speedscope read) and a summary of the hotspots (``*.txt``).
"""

from __future__ import annotations

import asyncio
import collections
import re
import shutil
import sys
from pathlib import Path

from bench import amqp
from bench.drain import WORKER_PREFETCH, fill_backlog
from bench.lab import BenchError, Lab, Process, confirmhub_env
from bench.payloads import Payload, bitrix24_form, mcn_cdr
from bench.servers import RECEIVER_QUEUES, start_confirmhub
from bench.wrk import run_wrk

_PRODUCT_FRAME = re.compile(r"\((confirmhub|receiver|worker|schemas)/")
_ENTRY_FRAME = re.compile(r"\(service/cli\.py:")
_PACKAGE = re.compile(r"\((?:.*site-packages/)?([A-Za-z_][\w.]*)[/.]")


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise BenchError("py-spy is not installed: pip install -r bench/requirements.txt")
    return found


async def record(process: Process, *, seconds: float, output: Path) -> None:
    """Sample ``process`` at 200 Hz for ``seconds`` into collapsed stacks."""
    spy = await asyncio.create_subprocess_exec(
        _py_spy(),
        "record",
        f"--pid={process.pid}",
        f"--duration={max(1, round(seconds))}",
        "--rate=200",
        "--format=raw",
        f"--output={output}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await spy.communicate()
    if spy.returncode != 0:
        raise BenchError(f"py-spy failed (root or ptrace rights needed): {stderr.decode()}")


def summarize(folded: Path, *, top: int = 15) -> str:
    """Self time by package, the hottest functions, and our code's inclusive time."""
    own: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[frames[-1]] += count
        package = _PACKAGE.search(frames[-1])
        packages[package.group(1) if package else "(native/idle)"] += count
        for frame in set(frames):
            if _PRODUCT_FRAME.search(frame) and not _ENTRY_FRAME.search(frame):
                inclusive[frame] += count

    def table(title: str, counter: collections.Counter[str]) -> list[str]:
        rows = [f"{100 * n / max(total, 1):5.1f}%  {name}" for name, n in counter.most_common(top)]
        return [title, *rows, ""]

    return "\n".join(
        [
            f"{total} samples",
            "",
            *table("self time by package:", packages),
            *table("self time by function:", own),
            *table(
                "inclusive time in confirmhub code (SQLAlchemy's greenlet frames apart):", inclusive
            ),
        ]
    )


async def profile_receiver(
    lab: Lab, *, amqp_url: str, payload: Payload, seconds: float, out: Path, label: str
) -> str:
    """Profile ``confirmhub receiver`` under closed-loop wrk load of ``payload``."""
    server = await start_confirmhub(lab, amqp_url=amqp_url, label=f"profile-{label}")
    try:
        await amqp.purge(amqp_url, RECEIVER_QUEUES)
        load = asyncio.create_task(
            run_wrk(
                server.base_url,
                payload,
                seconds=seconds + 3,
                connections=64,
                threads=2,
                body_dir=lab.tmp,
            )
        )
        await asyncio.sleep(1.5)
        folded = out / f"{label}.folded"
        await record(server.process, seconds=seconds, output=folded)
        await load
    finally:
        lab.stop(server.process)
        await amqp.purge(amqp_url, RECEIVER_QUEUES)
    return summarize(folded)


async def profile_worker(lab: Lab, *, amqp_url: str, count: int, seconds: float, out: Path) -> str:
    """Profile ``confirmhub worker`` (PostgreSQL) draining a backlog of ``count`` CDRs."""
    database_url = await lab.database("profile")
    env = confirmhub_env(
        amqp_url=amqp_url, database_url=database_url, worker_prefetch=str(WORKER_PREFETCH)
    )
    lab.migrate(env)
    await fill_backlog(amqp_url, count)
    worker = lab.confirmhub("profile-worker", "worker", env)
    try:
        await asyncio.sleep(4)  # start-up: imports, connections
        folded = out / "worker.folded"
        await record(worker, seconds=seconds, output=folded)
    finally:
        lab.stop(worker)
    return summarize(folded)


async def run_profiles(
    lab: Lab, *, amqp_url: str, seconds: float, out: Path, only: frozenset[str]
) -> dict[str, str]:
    """The profiles ``only`` asks for (the receiver's with ``throughput``, the worker's with
    ``drain``), collapsed stacks written under ``out``; the summaries by name."""
    await amqp.declare_confirmhub_topology(amqp_url)
    summaries: dict[str, str] = {}
    if "throughput" in only:
        for label, payload in (
            ("receiver-mcn", mcn_cdr()),
            ("receiver-bitrix24", bitrix24_form()),
        ):
            summaries[label] = await profile_receiver(
                lab, amqp_url=amqp_url, payload=payload, seconds=seconds, out=out, label=label
            )
    if "drain" in only:
        summaries["worker"] = await profile_worker(
            lab, amqp_url=amqp_url, count=20_000, seconds=seconds, out=out
        )
    return summaries


def write_summaries(out: Path, summaries: dict[str, str]) -> None:
    """``<name>.txt`` for each summary."""
    out.mkdir(parents=True, exist_ok=True)
    for name, summary in summaries.items():
        (out / f"{name}.txt").write_text(summary + "\n")

"""The machine and the versions a run measured, for the record beside its numbers."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from pathlib import Path

import asyncpg

from bench.lab import BenchError

_PACKAGES = (
    "confirmhub",
    "aiohttp",
    "aio-pika",
    "aiormq",
    "pydantic",
    "pydantic-core",
    "SQLAlchemy",
    "asyncpg",
    "aiosqlite",
    "structlog",
    "uvloop",
    "orjson",
)


def _first_line(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    result = subprocess.run(  # noqa: S603 - fixed arguments
        argv, capture_output=True, text=True, timeout=60, check=False
    )
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _os_name() -> str:
    with_release = Path("/etc/os-release")
    if with_release.exists():
        for line in with_release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip('"')
    return platform.system()


def load_average() -> str:
    """The 1, 5 and 15-minute load averages."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def service_starts() -> dict[str, int]:
    """When the RabbitMQ and PostgreSQL servers started (clock ticks since boot): a change
    during a run means something restarted them under the measurements."""
    names = {"beam.smp": "RabbitMQ", "postgres": "PostgreSQL"}
    starts: dict[str, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, _, tail = stat.read_text().rpartition(")")
            service = names.get(head.partition("(")[2])
            started = int(tail.split()[19])
        except (OSError, IndexError, ValueError):
            continue
        if service is not None:
            starts[service] = min(started, starts.get(service, started))
    return starts


def busy(threshold: float = 0.5) -> bool:
    """Whether the last minute's load average says other work is running."""
    return os.getloadavg()[0] > threshold


def machine() -> dict[str, str]:
    """CPU, cores, memory, OS and kernel."""
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": f"{_memory_gib():.1f} GiB",
        "OS": _os_name(),
        "kernel": platform.release(),
    }


async def versions(postgres_admin_url: str) -> dict[str, str]:
    """Python, the libraries on the hot paths, RabbitMQ, PostgreSQL and wrk."""
    found = {"Python": platform.python_version()}
    for package in _PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    found["RabbitMQ"] = _first_line(["rabbitmqctl", "version"])
    try:
        connection = await asyncpg.connect(postgres_admin_url, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"cannot connect to PostgreSQL at {postgres_admin_url}: {exc}") from exc
    try:
        found["PostgreSQL"] = str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()
    found["wrk"] = _first_line(["wrk", "--version"]).split(" [")[0]
    return found

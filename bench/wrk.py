"""Closed-loop load with wrk: as many requests as ``connections`` keep in flight."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.lab import BenchError
from bench.payloads import Payload

_SCRIPT = Path(__file__).with_name("post.lua")


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What wrk reported for one run."""

    requests: int
    seconds: float
    status_errors: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def good(self) -> int:
        """Requests answered with a 2xx."""
        return self.requests - self.status_errors

    @property
    def rate(self) -> float:
        """2xx answers per second."""
        return self.good / self.seconds


async def run_wrk(
    base_url: str,
    payload: Payload,
    *,
    seconds: float,
    connections: int,
    threads: int,
    body_dir: Path,
) -> WrkResult:
    """POST ``payload`` for ``seconds`` over ``connections`` keep-alive connections."""
    executable = shutil.which("wrk")
    if executable is None:
        raise BenchError("wrk is not installed (apt-get install wrk)")
    body_file = body_dir / f"body-{abs(hash(payload.body))}.bin"
    body_file.write_bytes(payload.body)
    process = await asyncio.create_subprocess_exec(
        executable,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=10s",
        f"--script={_SCRIPT}",
        base_url + payload.path,
        "--",
        str(body_file),
        payload.content_type,
        payload.authorization or "",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    lines = [line for line in stdout.decode().splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise BenchError(f"wrk failed ({process.returncode}): {stderr.decode()}{stdout.decode()}")
    report = json.loads(lines[-1])
    return WrkResult(
        requests=report["requests"],
        seconds=report["duration_us"] / 1e6,
        status_errors=report["status_errors"],
        socket_errors=report["socket_errors"],
        p50_ms=report["p50_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
    )

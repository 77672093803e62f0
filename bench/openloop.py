"""Open-loop load at a fixed rate, measured from each request's scheduled start.

Request ``i`` is due at ``start + i / rate`` whatever happened to the ones before it. A
request that waits for a free connection, or is sent late because the generator itself was
busy, is charged that wait: latency runs from the scheduled time to the last byte of the
answer, so a server that stalls cannot hide the requests it kept from being sent
(coordinated omission). The client is a minimal HTTP/1.1 keep-alive client over asyncio
streams, much cheaper per request than a full client on a machine the server shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.payloads import Payload


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (inf if there are none)."""
    if not sorted_values:
        return math.inf
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(slots=True)
class OpenLoopResult:
    """Latencies of one fixed-rate run, in seconds, by request index (None: no answer)."""

    rate: float
    start: float
    latencies: list[float | None]
    statuses: list[int] = field(default_factory=list)

    def scheduled(self, index: int) -> float:
        """When request ``index`` was due (a ``time.perf_counter`` value)."""
        return self.start + index / self.rate

    @property
    def sent(self) -> int:
        """Requests scheduled."""
        return len(self.latencies)

    @property
    def errors(self) -> int:
        """Requests answered with another status than expected, or not answered at all."""
        return sum(1 for latency in self.latencies if latency is None)

    def percentiles_ms(self, *fractions: float) -> list[float]:
        """Latency percentiles in milliseconds; an unanswered request counts as infinite."""
        values = sorted(math.inf if x is None else x * 1000 for x in self.latencies)
        return [percentile(values, fraction) for fraction in fractions]

    @property
    def achieved_rate(self) -> float:
        """Answers per second from the first scheduled start to the last answer."""
        answered = [i for i, x in enumerate(self.latencies) if x is not None]
        if not answered:
            return 0.0
        end = max(self.scheduled(i) + (self.latencies[i] or 0.0) for i in answered)
        return len(answered) / (end - self.start)


def _request_bytes(payload: Payload, host: str, body: bytes) -> bytes:
    headers = {"Host": host, **payload.headers(), "Content-Length": str(len(body))}
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"POST {payload.path} HTTP/1.1\r\n{head}\r\n".encode() + body


async def _read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return int(head[9:12])


class _Client:
    def __init__(
        self, host: str, port: int, requests: Sequence[bytes], rate: float, expect: int
    ) -> None:
        self.host, self.port = host, port
        self.requests = requests
        self.interval = 1 / rate
        self.expect = expect
        self.start = 0.0
        self.latencies: list[float | None] = [None] * len(requests)
        self.statuses = [0] * len(requests)
        self.pending: asyncio.Queue[int | None] = asyncio.Queue()

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)

    async def connection(self, streams: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        connected: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = streams
        while (index := await self.pending.get()) is not None:
            try:
                if connected is None:
                    connected = await self.connect()
                reader, writer = connected
                writer.write(self.requests[index])
                status = await _read_status(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                if connected is not None:
                    connected[1].close()
                connected = None
                continue
            self.statuses[index] = status
            if status == self.expect:
                self.latencies[index] = time.perf_counter() - self.start - index * self.interval
        if connected is not None:
            connected[1].close()

    async def schedule(self) -> None:
        index, count = 0, len(self.requests)
        while index < count:
            now = time.perf_counter()
            while index < count and self.start + index * self.interval <= now:
                self.pending.put_nowait(index)
                index += 1
            if index < count:
                await asyncio.sleep(self.start + index * self.interval - time.perf_counter())


async def open_loop(
    host: str,
    port: int,
    payload: Payload,
    *,
    rate: float,
    bodies: Sequence[bytes],
    connections: int = 256,
    expect: int = 202,
    grace: float = 30.0,
) -> OpenLoopResult:
    """Send one request per body at ``rate`` per second; answers not in by ``grace`` seconds
    after the last one was due count as errors."""
    requests = [_request_bytes(payload, f"{host}:{port}", body) for body in bodies]
    client = _Client(host, port, requests, rate, expect)
    opened = await asyncio.gather(*(client.connect() for _ in range(connections)))
    client.start = time.perf_counter() + 0.05
    workers = [asyncio.create_task(client.connection(streams)) for streams in opened]
    await client.schedule()
    for _ in workers:
        client.pending.put_nowait(None)
    _, unfinished = await asyncio.wait(workers, timeout=grace)
    for worker in unfinished:
        worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*unfinished, return_exceptions=True)
    return OpenLoopResult(
        rate=rate, start=client.start, latencies=client.latencies, statuses=client.statuses
    )

"""An open-loop load generator: distinct CDRs posted at a fixed rate, every answer kept.

Open loop: a request is sent on schedule whatever became of the earlier ones, so a receiver
that stalls collects unanswered requests instead of slowing the sender down (a closed loop
would hide exactly the stalls these tests look for).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True, slots=True)
class Answer:
    """One request: when it was sent (monotonic), its status (None: no answer) and latency."""

    sent_at: float
    call: str
    status: int | None
    latency: float


class CdrLoad:
    """Posts one new CDR every ``1/rate`` seconds to the MCN webhook until stopped."""

    def __init__(self, base_url: str, *, secret: str, rate: float, timeout: float) -> None:
        self._url = f"{base_url.rstrip('/')}/webhooks/mcn/password-call"
        self._headers = {"Authorization": f"Bearer {secret}"}
        self._rate = rate
        self._timeout = timeout
        self._stop = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self.answers: list[Answer] = []

    async def __aenter__(self) -> CdrLoad:
        self._runner = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        assert self._runner is not None
        await self._runner

    async def _run(self) -> None:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            started = time.monotonic()
            requests: list[asyncio.Task[None]] = []
            while not self._stop.is_set():
                requests.append(asyncio.create_task(self._post(session)))
                due = started + len(requests) / self._rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            await asyncio.gather(*requests)

    async def _post(self, session: aiohttp.ClientSession) -> None:
        call = f"{uuid.uuid4().hex[:12]}_117793"
        body = {"verification_call_uuid": call, "q931_status": "17", "final_status": "CANCEL"}
        sent_at = time.monotonic()
        status: int | None
        try:
            async with session.post(self._url, json=body, headers=self._headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            status = None
        self.answers.append(Answer(sent_at, call, status, time.monotonic() - sent_at))

    def between(self, start: float, end: float) -> list[Answer]:
        """The requests sent in ``[start, end]`` (monotonic clock)."""
        return [answer for answer in self.answers if start <= answer.sent_at <= end]

    def figures(self, windows: list[tuple[float, float]]) -> dict[str, object]:
        """What happened, for the closing note: counts, the split while nodes were down."""
        during = [answer for start, end in windows for answer in self.between(start, end)]
        elapsed = max(a.sent_at for a in self.answers) - min(a.sent_at for a in self.answers)
        return {
            "requests": len(self.answers),
            "rate_per_s": round(len(self.answers) / elapsed, 1) if elapsed else None,
            "statuses": dict(Counter(answer.status for answer in self.answers)),
            "sent_while_down": len(during),
            "accepted_while_down": sum(answer.status == 202 for answer in during),
            "max_latency_s": round(max(answer.latency for answer in self.answers), 2),
        }

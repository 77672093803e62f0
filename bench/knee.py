"""The knee: the highest offered rate at which end-to-end p99 stays within the limit.

Steps the open-loop rate through one pipeline (receiver + worker, PostgreSQL; ``bench/e2e.py``),
each step long enough to matter and starting on a quiet broker:

1. up from ``coarse`` req/s in steps of ``coarse`` until a step's p99 is over the limit;
2. bisection between the highest passing and the lowest failing rate, down to ``fine``;
3. the highest passing rate is run again: the knee is a rate that passed twice. If the
   repeat fails, that rate counts as failing and the search goes on below it — one lucky
   step cannot make the knee.

Rates only ever go up once past a failure by bisection, so the machine is overloaded for a
step or two at most. Every step is kept, repeats included, for the table and the plot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bench.e2e import Pipeline, Step
from bench.lab import Lab, say


class Stepper(Protocol):
    """What the search drives: a pipeline that runs one step at a rate."""

    async def step(self, rate: int, *, seconds: float, wait: float) -> Step:
        """Offer ``rate`` req/s for ``seconds``; the step's latencies."""
        ...


@dataclass(frozen=True, slots=True)
class KneeSearch:
    """How to step: limits and sizes."""

    limit_ms: float
    coarse: int
    fine: int
    highest: int
    seconds: float
    wait: float


@dataclass(frozen=True, slots=True)
class Knee:
    """The search's outcome: every step in order, the knee (None if the lowest rate tried
    failed) and the lowest rate seen failing (None if none did up to ``highest``)."""

    steps: tuple[Step, ...]
    knee: int | None
    failing: int | None
    search: KneeSearch

    def passes(self, step: Step) -> bool:
        """Whether a step's p99 is within the limit."""
        return step.p99 <= self.search.limit_ms


async def find_knee(pipeline: Stepper, search: KneeSearch) -> Knee:
    """Run the search on a warmed-up pipeline."""
    steps: list[Step] = []
    passed: set[int] = set()

    async def passes(rate: int) -> bool:
        step = await pipeline.step(rate, seconds=search.seconds, wait=search.wait)
        steps.append(step)
        verdict = step.p99 <= search.limit_ms
        say(f"knee: {rate:,} req/s {'passes' if verdict else 'fails'}")
        return verdict

    low, high = 0, None  # highest passing so far (0: none), lowest failing (None: none)
    rate = search.coarse
    while rate <= search.highest:
        if not await passes(rate):
            high = rate
            break
        low, rate = rate, rate + search.coarse
        passed.add(low)
    while True:
        while high is not None and high - low > search.fine:
            middle = low + max(search.fine, (high - low) // 2 // search.fine * search.fine)
            if await passes(middle):
                low = middle
                passed.add(low)
            else:
                high = middle
        if low == 0 or await passes(low):
            break
        # The repeat failed: the knee lies below, and ``low`` is no longer known to pass.
        high = low
        low = max((rate for rate in passed if rate < high), default=0)
        passed.discard(high)
    return Knee(steps=tuple(steps), knee=low or None, failing=high, search=search)


async def measure_knee(lab: Lab, *, amqp_url: str, search: KneeSearch) -> Knee:
    """The knee search on a fresh pipeline."""
    async with Pipeline(lab, amqp_url=amqp_url, label="knee") as pipeline:
        knee = await find_knee(pipeline, search)
    if knee.knee is None:
        say(f"knee: below {knee.failing:,} req/s")
    elif knee.failing is None:
        say(f"knee: at least {knee.knee:,} req/s, the highest rate tried (confirmed)")
    else:
        say(f"knee: {knee.knee:,} req/s (confirmed); {knee.failing:,} req/s fails")
    return knee

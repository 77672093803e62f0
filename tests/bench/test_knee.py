"""The knee search of ``python -m bench``: which rates it tries, and what it calls the knee."""

from __future__ import annotations

from collections.abc import Callable

from bench.e2e import Step
from bench.knee import KneeSearch, find_knee

SEARCH = KneeSearch(limit_ms=100.0, coarse=500, fine=125, highest=4000, seconds=10.0, wait=60.0)


class ScriptedPipeline:
    """Answers each step with the p99 a script gives for the rate and how often it ran."""

    def __init__(self, p99: Callable[[int, int], float]) -> None:
        self._p99 = p99
        self.rates: list[int] = []

    async def step(self, rate: int, *, seconds: float, wait: float) -> Step:
        self.rates.append(rate)
        p99 = self._p99(rate, self.rates.count(rate))
        return Step(rate, seconds, 100, 100, p99 / 2, p99 / 1.5, p99, p99 * 1.2, 5.0)


async def test_steps_up_bisects_and_confirms_the_knee() -> None:
    pipeline = ScriptedPipeline(lambda rate, _: rate / 20)  # within 100 ms up to 2,000

    knee = await find_knee(pipeline, SEARCH)

    assert pipeline.rates == [500, 1000, 1500, 2000, 2500, 2250, 2125, 2000]
    assert (knee.knee, knee.failing) == (2000, 2125)
    assert [step.rate for step in knee.steps] == pipeline.rates


async def test_a_rate_that_fails_its_repeat_is_not_the_knee() -> None:
    def p99(rate: int, attempt: int) -> float:
        lucky = rate == 1500 and attempt == 1
        return 50.0 if rate <= 1250 or lucky else 150.0

    pipeline = ScriptedPipeline(p99)

    knee = await find_knee(pipeline, SEARCH)

    assert pipeline.rates == [500, 1000, 1500, 2000, 1750, 1625, 1500, 1250, 1375, 1250]
    assert (knee.knee, knee.failing) == (1250, 1375)


async def test_no_knee_when_even_the_lowest_rate_fails() -> None:
    pipeline = ScriptedPipeline(lambda rate, _: 500.0)

    knee = await find_knee(pipeline, SEARCH)

    assert pipeline.rates == [500, 250, 125]
    assert (knee.knee, knee.failing) == (None, 125)


async def test_every_rate_passing_stops_at_the_highest() -> None:
    pipeline = ScriptedPipeline(lambda rate, _: 10.0)

    knee = await find_knee(pipeline, SEARCH)

    assert pipeline.rates == [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4000]
    assert (knee.knee, knee.failing) == (4000, None)


async def test_a_fine_step_that_does_not_divide_the_coarse_one_still_ends() -> None:
    pipeline = ScriptedPipeline(lambda rate, _: rate / 20)
    search = KneeSearch(limit_ms=100.0, coarse=500, fine=200, highest=4000, seconds=1, wait=1)

    knee = await find_knee(pipeline, search)

    assert pipeline.rates == [500, 1000, 1500, 2000, 2500, 2200, 2000]
    assert (knee.knee, knee.failing) == (2000, 2200)

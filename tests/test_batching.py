"""The coalescer behind group commits: who lands in which batch, and who gets which error."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from confirmhub.batching import Coalescer


class Recorder:
    """A batch function that records its batches and holds each until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()

    async def __call__(self, items: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        await self.release.wait()
        return [ValueError(item) if item < 0 else item * 10 for item in items]


async def test_calls_made_while_a_batch_runs_form_the_next_one() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder, max_size=100)
    calls = [asyncio.create_task(coalescer(item)) for item in range(1, 11)]
    await asyncio.sleep(0.01)
    assert recorder.batches == [[1]], "the first call starts at once, alone"
    recorder.release.set()
    assert await asyncio.gather(*calls) == [item * 10 for item in range(1, 11)]
    assert recorder.batches == [[1], list(range(2, 11))]


async def test_free_slots_start_batches_at_once_and_max_size_bounds_them() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder, max_size=3, max_concurrent=2)
    calls = [asyncio.create_task(coalescer(item)) for item in range(1, 9)]
    await asyncio.sleep(0.01)
    assert recorder.batches == [[1], [2]]
    recorder.release.set()
    await asyncio.gather(*calls)
    assert recorder.batches == [[1], [2], [3, 4, 5], [6, 7, 8]]


async def test_an_items_error_reaches_its_caller_only() -> None:
    recorder = Recorder()
    recorder.release.set()
    coalescer = Coalescer(recorder, max_size=10)
    results = await asyncio.gather(
        *(coalescer(item) for item in (1, -2, 3)), return_exceptions=True
    )
    assert results[0] == 10
    assert results[2] == 30
    assert isinstance(results[1], ValueError)


async def test_a_batch_error_reaches_every_caller_in_it() -> None:
    failures = [ConnectionError("database gone"), ConnectionError("database gone")]
    release = asyncio.Event()

    async def failing_twice(items: Sequence[int]) -> list[int | Exception]:
        await release.wait()
        if failures:
            raise failures.pop()
        return list(items)

    coalescer = Coalescer(failing_twice, max_size=10)
    calls = [asyncio.create_task(coalescer(item)) for item in range(6)]
    await asyncio.sleep(0.01)  # [0] runs alone; 1-5 wait and form the next batch
    release.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    assert await coalescer(6) == 6, "later batches run normally"


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder, max_size=10)
    first = asyncio.create_task(coalescer(1))
    second = asyncio.create_task(coalescer(2))
    third = asyncio.create_task(coalescer(3))
    await asyncio.sleep(0.01)
    second.cancel()
    recorder.release.set()
    assert await first == 10
    assert await third == 30
    with pytest.raises(asyncio.CancelledError):
        await second

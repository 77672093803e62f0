"""Coalescing: concurrent one-item calls served by one batch call (a group commit)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Each item's result, or the exception that item alone is to raise.
BatchProcessor = Callable[[Sequence[Item]], Awaitable[Sequence[Result | Exception]]]


class Coalescer(Generic[Item, Result]):
    """Turns concurrent one-item calls into calls of a batch function.

    Up to ``max_concurrent`` batches run at once. A call finding a free slot starts a batch
    of its own at once, so an idle service adds no delay; calls made while every slot is
    busy wait and form the next batch together, so a busy one pays the batch's fixed cost
    (a transaction, a broker round trip) once per batch instead of once per item. Each
    caller gets its own item's result or exception; an exception of the whole batch is
    raised to every caller in it. A caller cancelled while it waits (a deadline) is dropped
    from the batches not yet started.
    """

    def __init__(
        self,
        process: BatchProcessor[Item, Result],
        *,
        max_size: int,
        max_concurrent: int = 1,
    ) -> None:
        self._process = process
        self._max_size = max_size
        self._max_concurrent = max_concurrent
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def __call__(self, item: Item) -> Result:
        """Process ``item`` in a batch and return its result."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._start_batches()
        return await future

    def _start_batches(self) -> None:
        while self._waiting and len(self._running) < self._max_concurrent:
            # A caller that gave up while waiting (its deadline passed) is left out.
            self._waiting = [entry for entry in self._waiting if not entry[1].done()]
            batch = self._waiting[: self._max_size]
            del self._waiting[: self._max_size]
            if not batch:
                return
            task = asyncio.create_task(self._settle(batch))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start_batches()

    async def _settle(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._process([item for item, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            # A caller cancelled meanwhile (shutdown) has gone: nothing to tell it.
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

"""Baselines the bench runs beside confirmhub: a no-op server, a naive receiver, a raw consumer.

Each is a script (``python -m bench.baselines.NAME --help``) so it runs in its own process,
as confirmhub does, under the same event loop (uvloop unless ``--loop asyncio``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Literal

LoopName = Literal["uvloop", "asyncio"]


def new_loop(name: LoopName) -> asyncio.AbstractEventLoop:
    """A new event loop of the named kind."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(coroutine: Coroutine[Any, Any, None], loop_name: LoopName) -> None:
    """Run ``coroutine`` to completion on a new loop of the named kind."""
    loop = new_loop(loop_name)
    try:
        loop.run_until_complete(coroutine)
    finally:
        loop.close()

"""Baseline (c): consume and ack, nothing else — the broker's ceiling for a worker.

Consumes ``--count`` messages from an existing queue with the worker's prefetch, acking each,
and prints ``{"count": N, "seconds": S}`` timed from the first delivery to the last ack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from bench.baselines import LoopName, run


async def consume(
    url: str, queue_name: str, *, count: int, prefetch: int, give_up_after: float
) -> None:
    """Consume and ack ``count`` messages, then print how long it took."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.declare_queue(queue_name, passive=True)
        done = asyncio.Event()
        seen = 0
        first = 0.0

        async def on_message(message: AbstractIncomingMessage) -> None:
            nonlocal seen, first
            if seen == 0:
                first = time.perf_counter()
            await message.ack()
            seen += 1
            if seen >= count:
                done.set()

        await queue.consume(on_message)
        await asyncio.wait_for(done.wait(), timeout=give_up_after)
        print(json.dumps({"count": seen, "seconds": time.perf_counter() - first}), flush=True)
    finally:
        await connection.close()


def main() -> None:
    """Parse arguments and consume."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--prefetch", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    loop: LoopName = args.loop
    run(
        consume(
            args.amqp_url,
            args.queue,
            count=args.count,
            prefetch=args.prefetch,
            give_up_after=args.timeout,
        ),
        loop,
    )


if __name__ == "__main__":
    main()

"""Serving: the receiver, the worker, or both in one process, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web

from confirmhub.settings import Settings
from receiver.app import create_app
from receiver.health import healthz, metrics
from receiver.server import ReceiverRunner
from worker.app import running_worker

log = structlog.get_logger("confirmhub")

_SHUTDOWN_TIMEOUT = 15.0
# Connections the kernel queues until accepted (aiohttp's default: 128). A burst of clients,
# say a swarm of slow ones being cut off and coming back, must not crowd out the others:
# past the queue, a new connection's SYN is dropped and retried a second or more later.
_LISTEN_BACKLOG = 4096
# How long a kept-alive connection may sit idle between requests (aiohttp's AppRunner
# default is an hour; its run_app uses this).
_KEEPALIVE_TIMEOUT = 75.0
# Allocations before a young collection (CPython's default: 700).
_GC_YOUNG_THRESHOLD = 10_000


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _serve_app(
    app: web.Application, settings: Settings, port: int, stop: asyncio.Event
) -> None:
    # No aiohttp access log: its lines carry query strings, where a webhook secret may be.
    runner = ReceiverRunner(
        app,
        client_timeout=settings.client_timeout_seconds,
        access_log=None,
        shutdown_timeout=_SHUTDOWN_TIMEOUT,
        keepalive_timeout=_KEEPALIVE_TIMEOUT,
    )
    host = settings.host
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=_LISTEN_BACKLOG)
        await site.start()
        _settle_garbage_collector()
        log.info("http.listening", host=host, port=port)
        await stop.wait()
        log.info("shutdown.started")
    finally:
        await runner.cleanup()


def _settle_garbage_collector() -> None:
    """Keep the collector's pauses out of request latency once start-up is done.

    Everything allocated so far (modules, models, the app) lives as long as the process:
    frozen, full collections no longer walk it. A larger first generation makes young
    collections rarer; each request leaves little garbage that reference counting misses.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


async def serve(settings: Settings, *, receiver: bool, worker: bool) -> None:
    """Run the chosen roles until a termination signal, then shut down gracefully."""
    stop = _stop_event()
    if receiver:
        contexts = (_worker_context(settings),) if worker else ()
        app = create_app(settings, extra_contexts=contexts)
        await _serve_app(app, settings, settings.port, stop)
        return
    async with running_worker(settings):
        if settings.metrics_port is None:
            _settle_garbage_collector()
            await stop.wait()
            return
        probes = web.Application()
        probes.router.add_get("/healthz", healthz)
        probes.router.add_get("/metrics", metrics)
        await _serve_app(probes, settings, settings.metrics_port, stop)


def _worker_context(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(_app: web.Application) -> AsyncIterator[None]:
        async with running_worker(settings):
            yield

    return context

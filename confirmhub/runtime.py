"""Serving: the receiver, the worker, or both in one process, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web

from confirmhub.settings import Settings
from receiver.app import create_app
from receiver.health import healthz, metrics
from worker.app import running_worker

log = structlog.get_logger("confirmhub")

_SHUTDOWN_TIMEOUT = 15.0


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _serve_app(app: web.Application, host: str, port: int, stop: asyncio.Event) -> None:
    # No aiohttp access log: its lines carry query strings, where a webhook secret may be.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("http.listening", host=host, port=port)
        await stop.wait()
        log.info("shutdown.started")
    finally:
        await runner.cleanup()


async def serve(settings: Settings, *, receiver: bool, worker: bool) -> None:
    """Run the chosen roles until a termination signal, then shut down gracefully."""
    stop = _stop_event()
    if receiver:
        contexts = (_worker_context(settings),) if worker else ()
        app = create_app(settings, extra_contexts=contexts)
        await _serve_app(app, settings.host, settings.port, stop)
        return
    async with running_worker(settings):
        if settings.metrics_port is None:
            await stop.wait()
            return
        probes = web.Application()
        probes.router.add_get("/healthz", healthz)
        probes.router.add_get("/metrics", metrics)
        await _serve_app(probes, settings.host, settings.metrics_port, stop)


def _worker_context(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(_app: web.Application) -> AsyncIterator[None]:
        async with running_worker(settings):
            yield

    return context

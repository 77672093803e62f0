"""Baseline (a): an aiohttp server that reads the body and answers 202 — the HTTP floor."""

from __future__ import annotations

import argparse

from aiohttp import web

from bench.baselines import new_loop


async def accept(request: web.Request) -> web.Response:
    """Read the whole body, then answer 202 with no body."""
    await request.read()
    return web.Response(status=202)


async def healthz(_request: web.Request) -> web.Response:
    """Alive."""
    return web.Response(text="ok")


def create_app() -> web.Application:
    """The no-op app: both webhook paths and a health check."""
    app = web.Application()
    app.router.add_post("/webhooks/mcn/password-call", accept)
    app.router.add_post("/webhooks/bitrix24", accept)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    """Serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    web.run_app(create_app(), host="127.0.0.1", port=args.port, loop=new_loop(args.loop))


if __name__ == "__main__":
    main()

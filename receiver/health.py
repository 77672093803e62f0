"""``/healthz``, ``/readyz`` and ``/metrics``: for probes and Prometheus, no auth."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from confirmhub.db.migrate import current_revision, head_revision
from receiver.keys import BROKER, STORE

_CHECK_TIMEOUT = 2.0


async def healthz(_request: web.Request) -> web.Response:
    """The process is alive."""
    return web.json_response({"status": "ok"})


async def _database_check(request: web.Request) -> str | None:
    try:
        revision = await asyncio.wait_for(
            current_revision(request.app[STORE].engine), _CHECK_TIMEOUT
        )
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    if revision != head_revision():
        return f"schema at {revision}, code expects {head_revision()}; run confirmhub migrate"
    return None


async def readyz(request: web.Request) -> web.Response:
    """Ready when the broker is connected and the database reachable and migrated; names
    the broker node this receiver publishes to."""
    checks: dict[str, str] = {}
    broker = request.app[BROKER]
    node = broker.node.name if broker.connected.is_set() and broker.node is not None else None
    checks["broker"] = "ok" if node else "down: connecting to another node"
    database_problem = await _database_check(request)
    checks["database"] = database_problem or "ok"
    ready = node is not None and database_problem is None
    body = {"status": "ready" if ready else "not ready", "checks": checks, "broker_node": node}
    return web.Response(
        status=200 if ready else 503, body=orjson.dumps(body), content_type="application/json"
    )


async def metrics(_request: web.Request) -> web.Response:
    """Prometheus text exposition of this process's registry."""
    response = web.Response(body=generate_latest(REGISTRY))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response

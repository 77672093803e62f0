"""Middlewares: request id and canonical log line, problem+json errors."""

from __future__ import annotations

import asyncio
import random
import re
import time
from typing import Any

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy import exc as sa_exc

from confirmhub import metrics
from confirmhub.db.engine import is_unavailable
from confirmhub.errors import ServiceUnavailable
from receiver.errors import InvalidPayload, ReceiverError, RequestTimedOut
from receiver.keys import SETTINGS

log = structlog.get_logger("confirmhub.receiver")

REQUEST_ID = web.RequestKey("request_id", str)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PROBLEM_CONTENT_TYPE = "application/problem+json"
# nginx's status for a request whose client closed the connection before the answer.
CLIENT_CLOSED_REQUEST = 499


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    members: dict[str, Any] | None = None,
) -> web.Response:
    """An ``application/problem+json`` response."""
    body: dict[str, Any] = {
        **(members or {}),
        "type": f"urn:confirmhub:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _request_id(request: web.Request) -> str:
    given = request.headers.get("X-Request-ID", "")
    # 32 random hex digits. Not a secret, so not from os.urandom: a system call per request
    # showed in the profile.
    return given if _SAFE_REQUEST_ID.match(given) else f"{random.getrandbits(128):032x}"


def _is_data_exception(exc: sa_exc.DBAPIError) -> bool:
    """A value the database refused (SQLSTATE class 22, "data exception")."""
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    return isinstance(exc, sa_exc.DataError) or sqlstate.startswith("22")


def _classify(exc: Exception) -> Exception:
    """What a handler's exception means for the client, logging what an operator must see."""
    if isinstance(exc, ReceiverError | ServiceUnavailable):
        return exc
    if is_unavailable(exc):
        # A database or network failure on our side: the client should retry, not see a 500.
        log.warning("request.dependency_unavailable", error_type=type(exc).__name__)
        return ServiceUnavailable(type(exc).__name__)
    if isinstance(exc, sa_exc.DBAPIError) and _is_data_exception(exc):
        # Validation should have refused it; if the database still cannot store a value
        # the client sent, that is the client's 422, never our 500.
        log.warning("request.unstorable_value", error_type=type(exc.orig).__name__)
        return InvalidPayload("a value cannot be stored")
    log.exception("request.unexpected_error")
    return exc


def _client_left(request: web.Request) -> bool:
    """Whether the client's connection is gone (closed by it, or cut off by the server)."""
    transport = request.transport
    return transport is None or transport.is_closing()


def _to_problem(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, ReceiverError):
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            slug=exc.slug,
            errors=exc.errors,
            headers=exc.headers,
            members=exc.members,
        )
    if isinstance(exc, ServiceUnavailable):
        retry_after = str(request.app[SETTINGS].retry_after_seconds)
        return problem_response(
            503,
            "Service Unavailable",
            "the request was not made durable; retry later",
            slug="unavailable",
            headers={"Retry-After": retry_after},
        )
    if isinstance(exc, web.HTTPException):
        return problem_response(
            exc.status,
            exc.reason,
            exc.text or exc.reason,
            slug=exc.reason.lower().replace(" ", "-"),
            headers={k: v for k, v in exc.headers.items() if k in {"Allow"}},
        )
    return problem_response(
        500, "Internal Server Error", "an unexpected error occurred", slug="internal"
    )


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id, map errors to problem+json, and log one line per request."""
    started = time.perf_counter()
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    error: BaseException | None = None
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = exc
        response = _to_problem(request, exc)
    except asyncio.CancelledError as exc:
        if _client_left(request):
            _log_request(request, started, web.Response(status=CLIENT_CLOSED_REQUEST), exc)
        raise
    except Exception as exc:
        error = exc
        if isinstance(exc, ConnectionError) and _client_left(request):
            # The client hung up while we read its body: nothing of ours failed, so this
            # is not a dependency outage, and there is no one to answer.
            response = web.Response(status=CLIENT_CLOSED_REQUEST)
        else:
            response = _to_problem(request, _classify(exc))
    gone = response.status not in (CLIENT_CLOSED_REQUEST, RequestTimedOut.status)
    if gone and _client_left(request):
        # Handled (a webhook may well be durable), but the client is not there to hear it.
        log.info("request.client_disconnected", answer=response.status)
        response = web.Response(status=CLIENT_CLOSED_REQUEST)
    response.headers["X-Request-ID"] = request_id
    _log_request(request, started, response, error)
    return response


def _log_request(
    request: web.Request,
    started: float,
    response: web.StreamResponse,
    error: BaseException | None,
) -> None:
    """Count the request and write its one log line."""
    if response.status == CLIENT_CLOSED_REQUEST and error is not None:
        log.info("request.client_disconnected", error_type=type(error).__name__)
    elapsed = time.perf_counter() - started
    route = _route_name(request)
    metrics.HTTP_REQUESTS.labels(route, request.method, str(response.status)).inc()
    metrics.HTTP_LATENCY.labels(route).observe(elapsed)
    if route.startswith("/webhooks/"):
        metrics.WEBHOOKS_RECEIVED.labels(route.split("/")[2], str(response.status)).inc()
    # The path only: a query string may carry a webhook secret.
    log.info(
        "http.request",
        method=request.method,
        path=request.path,
        route=route,
        status=response.status,
        duration_ms=round(elapsed * 1000, 2),
        error=None if error is None else type(error).__name__,
        detail=getattr(error, "detail", None),
    )

"""Which API key may call which route: each operation's scope, read from the route table.

An operation declares its access once, in the OpenAPI route table (``receiver.docs``); this
middleware enforces exactly that, and the document shows it. ``/api/`` paths that match no
operation still need a valid key, so that an unknown path tells an anonymous client nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from receiver.auth import bearer_token
from receiver.callers import CALLER
from receiver.docs.openapi import ROUTES
from receiver.docs.openapi_table import Operation
from receiver.errors import Forbidden
from receiver.keys import CALLERS
from schemas.api_keys import Scope

# Any valid key will do: a 404 or 405 under /api/ is only shown to an authenticated caller.
ANY_KEY: Final = "any key"
Requirement = Scope | Literal["any key"] | None


def required_scopes(routes: Iterable[Operation]) -> dict[tuple[str, str], Scope | None]:
    """(method, path template) → the scope its API key needs, or None when it takes none."""
    return {(op.method.upper(), op.path): op.access.scope for op in routes}


_REQUIRED = required_scopes(ROUTES)


def requirement(request: web.Request) -> Requirement:
    """What the request's route asks of the caller."""
    route = request.match_info.route
    if route.resource is not None:
        # aiohttp adds a HEAD route beside each GET; it is the same operation.
        method = "GET" if route.method == "HEAD" else route.method
        key = (method, route.resource.canonical)
        if key in _REQUIRED:
            return _REQUIRED[key]
        # A route left out of the table: only the most trusted key, until it is declared.
        return "admin" if request.path.startswith("/api/") else None
    return ANY_KEY if request.path.startswith("/api/") else None


@web.middleware
async def authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Identify the API key of every ``/api/`` operation that needs one (``request[CALLER]``)
    and check its scope: a missing or unknown key is 401, a key without the scope 403."""
    needed = requirement(request)
    if needed is not None:
        caller = await request.app[CALLERS].identify(bearer_token(request))
        request[CALLER] = caller
        structlog.contextvars.bind_contextvars(api_key_id=caller.key_id)
        if needed != ANY_KEY and not caller.allows(needed):
            raise Forbidden(f"this API key lacks the {needed!r} scope this operation needs")
    return await handler(request)

"""``POST /webhooks/mcn/password-call``: MCN's CDR webhook."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import structlog
from aiohttp import web

from receiver.auth import bearer_token, require_secret
from receiver.body import BodyKind, body_kind, parse_form, parse_json, read_bounded, validate
from receiver.errors import InvalidPayload
from receiver.keys import CDR_QUEUE, SETTINGS
from receiver.middleware import REQUEST_ID
from schemas.inbound import InboundCdr
from schemas.mcn import PasswordCallCdr

log = structlog.get_logger("confirmhub.receiver")


def _cdr_items(document: Any) -> list[Any]:
    if isinstance(document, dict):
        return [document]
    if isinstance(document, list) and document:
        return document
    message = "body must be a CDR object or a non-empty array of CDR objects"
    raise InvalidPayload(message, errors=[{"loc": [], "msg": message, "type": "shape"}])


async def receive_cdr(request: web.Request) -> web.Response:
    """Authenticate, validate and durably queue one CDR or a batch, then answer 202."""
    settings = request.app[SETTINGS]
    given = bearer_token(request) or request.query.get("token")
    require_secret(given, settings.mcn_webhook_secret, what="MCN webhook secret")
    kind = body_kind(request)
    raw = await read_bounded(request, limit=settings.max_body_bytes)
    document: Any = (
        parse_json(raw) if kind is BodyKind.JSON else dict(parse_form(raw, charset=request.charset))
    )
    cdrs = [
        validate(PasswordCallCdr, item, what=f"CDR #{index}")
        for index, item in enumerate(_cdr_items(document))
    ]
    request_id = request[REQUEST_ID]
    received_at = dt.datetime.now(dt.UTC)
    await request.app[CDR_QUEUE].put(
        request_id,
        [InboundCdr(request_id=request_id, received_at=received_at, cdr=cdr) for cdr in cdrs],
    )
    structlog.contextvars.bind_contextvars(
        verification_call_uuids=[cdr.verification_call_uuid for cdr in cdrs][:20]
    )
    return web.Response(
        status=202,
        body=orjson.dumps({"accepted": len(cdrs), "request_id": request_id}),
        content_type="application/json",
    )

"""``POST /webhooks/mcn/password-call``: MCN's CDR webhook."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import orjson
import structlog
from aiohttp import web

from receiver.auth import bearer_token, require_secret
from receiver.body import BodyKind, body_kind, parse_form, parse_json, read_bounded, validate
from receiver.errors import InvalidPayload
from receiver.keys import PUBLISHER, SETTINGS
from receiver.middleware import REQUEST_ID
from schemas.inbound import INBOUND_EXCHANGE, MCN_CDR_ROUTING_KEY, InboundCdr
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
    publisher = request.app[PUBLISHER]
    outcomes = await asyncio.gather(
        *(
            publisher.publish(
                exchange=INBOUND_EXCHANGE,
                routing_key=MCN_CDR_ROUTING_KEY,
                body=InboundCdr(request_id=request_id, received_at=received_at, cdr=cdr)
                .model_dump_json()
                .encode(),
                message_id=f"{request_id}.{index}",
                message_type=MCN_CDR_ROUTING_KEY,
                correlation_id=request_id,
            )
            for index, cdr in enumerate(cdrs)
        ),
        return_exceptions=True,
    )
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        # Some may be queued already; the sender's retry is safe, workers deduplicate.
        raise failures[0]
    structlog.contextvars.bind_contextvars(
        verification_call_uuids=[cdr.verification_call_uuid for cdr in cdrs][:20]
    )
    return web.Response(
        status=202,
        body=orjson.dumps({"accepted": len(cdrs), "request_id": request_id}),
        content_type="application/json",
    )

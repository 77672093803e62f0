"""``POST /webhooks/bitrix24``: Bitrix24 event handler (form with PHP bracket keys, or JSON)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import structlog
from aiohttp import web

from receiver.body import BodyKind, body_kind, parse_form, parse_json, read_bounded, validate
from receiver.errors import InvalidPayload, Unauthorized
from receiver.keys import METHOD_CONFIRM_QUEUE, PORTALS, SETTINGS
from receiver.middleware import REQUEST_ID
from receiver.webhooks.php_form import nest_php_form
from schemas.bitrix24 import (
    ONAPPINSTALL,
    ONAPPMETHODCONFIRM,
    Bitrix24Envelope,
    InboundMethodConfirm,
    InstallEvent,
    MethodConfirmEvent,
)

log = structlog.get_logger("confirmhub.receiver")


def _json(body: dict[str, Any], *, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _credentials(document: dict[str, Any]) -> tuple[str, str]:
    auth = document.get("auth")
    member_id = auth.get("member_id") if isinstance(auth, dict) else None
    token = auth.get("application_token") if isinstance(auth, dict) else None
    if not isinstance(member_id, str) or not member_id or not isinstance(token, str) or not token:
        raise Unauthorized("auth[member_id] and auth[application_token] are required")
    return member_id.strip(), token.strip()


def _event_name(document: dict[str, Any]) -> str:
    """The event's name as Bitrix24 means it (case and surrounding spaces aside)."""
    return str(document.get("event", "")).strip().upper()


async def _document(request: web.Request) -> dict[str, Any]:
    kind = body_kind(request)
    raw = await read_bounded(request, limit=request.app[SETTINGS].max_body_bytes)
    document = (
        parse_json(raw)
        if kind is BodyKind.JSON
        else nest_php_form(parse_form(raw, charset=request.charset))
    )
    if not isinstance(document, dict):
        message = "an event body is an object"
        raise InvalidPayload(message, errors=[{"loc": [], "msg": message, "type": "shape"}])
    return document


async def receive_event(request: web.Request) -> web.Response:
    """Authenticate an event by its portal's application token, then queue or ignore it."""
    document = await _document(request)
    member_id, application_token = _credentials(document)
    structlog.contextvars.bind_contextvars(member_id=member_id)
    portals = request.app[PORTALS]
    if not await portals.authenticate(member_id, application_token):
        if await portals.is_known(member_id):
            raise Unauthorized("wrong application token for this portal")
        return await _unknown_portal(request, document, member_id, application_token)
    if _event_name(document) != ONAPPMETHODCONFIRM:
        envelope = validate(Bitrix24Envelope, document, what="Bitrix24 event")
        structlog.contextvars.bind_contextvars(bitrix24_event=envelope.event)
        return _json({"ignored": True})
    # The event the service exists for: validated once, as a whole.
    event = validate(MethodConfirmEvent, document, what="ONAPPMETHODCONFIRM event")
    structlog.contextvars.bind_contextvars(bitrix24_event=event.event)
    message = InboundMethodConfirm.from_event(
        event, request_id=request[REQUEST_ID], received_at=dt.datetime.now(dt.UTC)
    )
    structlog.contextvars.bind_contextvars(
        method=message.method, token_sha256=message.token_sha256, confirmed=message.confirmed
    )
    await request.app[METHOD_CONFIRM_QUEUE].put(request[REQUEST_ID], [message])
    return _json({"accepted": 1, "request_id": request[REQUEST_ID]}, status=202)


async def _unknown_portal(
    request: web.Request, document: dict[str, Any], member_id: str, application_token: str
) -> web.Response:
    portals = request.app[PORTALS]
    if not (portals.trust_install and _event_name(document) == ONAPPINSTALL):
        raise Unauthorized("unknown portal")
    install = validate(InstallEvent, document, what="ONAPPINSTALL event")
    registered = await portals.learn_from_install(
        member_id, application_token, domain=install.auth.domain
    )
    if not registered:  # another receiver registered it meanwhile: that token stands
        if not await portals.authenticate(member_id, application_token):
            raise Unauthorized("this portal is already registered with another token")
        return _json({"ignored": True})
    log.info("bitrix24.portal_registered", domain=install.auth.domain)
    return _json({"registered": True, "member_id": member_id})

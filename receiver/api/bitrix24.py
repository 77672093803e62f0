"""Admin API for Bitrix24: pending method confirmations and portal tokens."""

from __future__ import annotations

import datetime as dt

import orjson
import structlog
from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from confirmhub.db import bitrix24 as db
from confirmhub.redact import sha256_hex
from receiver.body import read_json_body, validate
from receiver.errors import NotFound
from receiver.keys import PORTALS, SETTINGS, STORE
from schemas.bitrix24 import (
    MemberId,
    MethodConfirmationRegistration,
    MethodConfirmationView,
    MethodName,
    PortalTokenBody,
    TokenSha256,
)

_MEMBER_ID: TypeAdapter[str] = TypeAdapter(MemberId)
_METHOD: TypeAdapter[str] = TypeAdapter(MethodName)
_TOKEN_SHA256: TypeAdapter[str] = TypeAdapter(TokenSha256)


async def _json_body(request: web.Request) -> object:
    return await read_json_body(request, limit=request.app[SETTINGS].max_body_bytes)


def _view(record: db.MethodConfirmationRecord) -> web.Response:
    view = MethodConfirmationView(
        member_id=record.member_id,
        token_sha256=record.token_sha256,
        method=record.method,
        status=record.status,  # type: ignore[arg-type]  # the column holds only these
        created_at=record.created_at,
        updated_at=record.updated_at,
        decided_at=record.decided_at,
    )
    return web.Response(body=view.model_dump_json(), content_type="application/json")


async def register_method_confirmation(request: web.Request) -> web.Response:
    """Record that a call with this token got ``METHOD_CONFIRM_WAITING``; answer its state."""
    body = validate(MethodConfirmationRegistration, await _json_body(request), what="registration")
    token_sha256 = sha256_hex(body.token.get_secret_value())
    async with request.app[STORE].transaction() as tx:
        record = await db.register_pending(
            tx.connection,
            member_id=body.member_id,
            token_sha256=token_sha256,
            method=body.method,
            now=dt.datetime.now(dt.UTC),
        )
    structlog.contextvars.bind_contextvars(member_id=body.member_id, token_sha256=token_sha256)
    return _view(record)


async def get_method_confirmation(request: web.Request) -> web.Response:
    """The state of one method confirmation; 404 if never registered nor decided."""
    try:
        member_id = _MEMBER_ID.validate_python(request.match_info["member_id"])
        token_sha256 = _TOKEN_SHA256.validate_python(request.match_info["token_sha256"].lower())
        method = _METHOD.validate_python(request.match_info["method"])
    except ValidationError:
        raise NotFound("no such method confirmation") from None
    async with request.app[STORE].reading() as connection:
        record = await db.select_method_confirmation(connection, member_id, token_sha256, method)
    if record is None:
        raise NotFound("no such method confirmation")
    return _view(record)


def _member_id(request: web.Request) -> str:
    try:
        return _MEMBER_ID.validate_python(request.match_info["member_id"])
    except ValidationError:
        raise NotFound("no such portal") from None


async def put_portal(request: web.Request) -> web.Response:
    """Add a portal or rotate its application token."""
    member_id = _member_id(request)
    body = validate(PortalTokenBody, await _json_body(request), what="portal token")
    async with request.app[STORE].transaction() as tx:
        created = await db.put_portal(
            tx.connection,
            member_id=member_id,
            token_sha256=sha256_hex(body.application_token.get_secret_value()),
            now=dt.datetime.now(dt.UTC),
        )
    request.app[PORTALS].forget(member_id)
    structlog.contextvars.bind_contextvars(member_id=member_id, portal_created=created)
    return web.Response(
        body=orjson.dumps({"member_id": member_id, "created": created}),
        content_type="application/json",
    )


async def delete_portal(request: web.Request) -> web.Response:
    """Forget a portal: its events are refused from now on."""
    member_id = _member_id(request)
    async with request.app[STORE].transaction() as tx:
        deleted = await db.delete_portal(tx.connection, member_id)
    request.app[PORTALS].forget(member_id)
    if not deleted:
        raise NotFound("no such portal")
    return web.Response(status=204)

"""``/api/v1/api-keys``: make, list and delete the keys services call the API with."""

from __future__ import annotations

import datetime as dt

import orjson
import structlog
from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from confirmhub.db import api_keys as db
from receiver.body import read_json_body, validate
from receiver.errors import NotFound
from receiver.keys import CALLERS, SETTINGS, STORE
from schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyView, KeyId

_KEY_ID: TypeAdapter[str] = TypeAdapter(KeyId)


def key_view(record: db.ApiKeyRecord) -> ApiKeyView:
    """The API view of a stored key (which holds no key)."""
    return ApiKeyView(
        id=record.id, name=record.name, scopes=list(record.scopes), created_at=record.created_at
    )


async def create_api_key(request: web.Request) -> web.Response:
    """Make a key; the ``201`` is the only answer that ever shows it."""
    limit = request.app[SETTINGS].max_body_bytes
    body = validate(ApiKeyCreate, await read_json_body(request, limit=limit), what="API key")
    async with request.app[STORE].transaction() as tx:
        made = await db.create_api_key(
            tx.connection, name=body.name, scopes=body.scopes, now=dt.datetime.now(dt.UTC)
        )
    structlog.contextvars.bind_contextvars(created_api_key_id=made.record.id)
    created = ApiKeyCreated(**key_view(made.record).model_dump(), key=made.key)
    return web.Response(status=201, body=created.model_dump_json(), content_type="application/json")


async def list_api_keys(request: web.Request) -> web.Response:
    """Every stored key, oldest first, without the keys."""
    async with request.app[STORE].reading() as connection:
        records = await db.list_api_keys(connection)
    body = orjson.dumps([key_view(record).model_dump(mode="json") for record in records])
    return web.Response(body=body, content_type="application/json")


async def delete_api_key(request: web.Request) -> web.Response:
    """Delete a key: refused here at once, by other receivers once their cache expires."""
    given = request.match_info["id"]
    try:
        key_id = _KEY_ID.validate_python(given)
    except ValidationError:
        raise NotFound(f"no API key {given!r}") from None
    async with request.app[STORE].transaction() as tx:
        digest = await db.delete_api_key(tx.connection, key_id)
    if digest is None:
        raise NotFound(f"no API key {key_id!r}")
    request.app[CALLERS].forget(digest)
    structlog.contextvars.bind_contextvars(deleted_api_key_id=key_id)
    return web.Response(status=204)

"""``/api/v2/confirmations/templates``: the texts verification codes are sent with."""

from __future__ import annotations

import dataclasses
import datetime as dt

import orjson
import structlog
from aiohttp import web

from confirmhub.db import confirmations as db
from receiver.api.b2core import (
    db_list_query,
    json_response,
    list_query,
    localized_caption,
    path_id,
    preferred_locales,
    read_json,
)
from receiver.body import validate
from receiver.errors import NotFound
from receiver.keys import STORE
from schemas.confirmations import TemplateCreate, TemplateListQuery, TemplatePatch, TemplateView

TEMPLATES = "/api/v2/confirmations/templates"


def template_view(record: db.TemplateRecord, locales: list[str]) -> TemplateView:
    """The API view of a stored template, its caption in the preferred locale."""
    fields = record.fields
    return TemplateView.model_validate(
        {
            "id": record.id,
            "name": fields.name,
            "caption": localized_caption(fields.caption, fields.resources, locales),
            "template": fields.template,
            "is_enabled": fields.is_enabled,
            "priority": fields.priority,
            "resources": fields.resources,
            "create_time": record.create_time,
            "update_time": record.update_time,
        }
    )


def _respond(request: web.Request, record: db.TemplateRecord, *, status: int = 200) -> web.Response:
    structlog.contextvars.bind_contextvars(template_id=record.id)
    view = template_view(record, preferred_locales(request.headers.get("Accept-Language")))
    return json_response(view.model_dump_json(by_alias=True), status=status)


async def list_templates(request: web.Request) -> web.Response:
    """The templates matching ``filter[…]``, paged; the total is in ``X-Total-Count``."""
    query = list_query(request.query, TemplateListQuery)
    async with request.app[STORE].reading() as connection:
        page = await db.list_templates(connection, db_list_query(query))
    locales = preferred_locales(request.headers.get("Accept-Language"))
    views = [
        template_view(record, locales).model_dump(mode="json", by_alias=True)
        for record in page.items
    ]
    return json_response(orjson.dumps(views), headers={"X-Total-Count": str(page.total)})


async def create_template(request: web.Request) -> web.Response:
    """Create a template; 201 with it."""
    body = validate(TemplateCreate, await read_json(request), what="template")
    fields = db.TemplateFields(
        name=body.name,
        caption=body.caption,
        template=body.template,
        is_enabled=body.is_enabled,
        priority=body.priority,
        resources=[resource.model_dump() for resource in body.resources],
    )
    async with request.app[STORE].transaction() as tx:
        record = await db.insert_template(tx.connection, fields, now=dt.datetime.now(dt.UTC))
    response = _respond(request, record, status=201)
    response.headers["Location"] = f"{TEMPLATES}/{record.id}"
    return response


async def get_template(request: web.Request) -> web.Response:
    """One template; 404 if unknown."""
    template_id = path_id(request, "templateId", what="template")
    async with request.app[STORE].reading() as connection:
        record = await db.select_template(connection, template_id)
    if record is None:
        raise NotFound(f"no template {template_id}")
    return _respond(request, record)


async def patch_template(request: web.Request) -> web.Response:
    """Change some of a template's fields; 200 with the result, 404 if unknown."""
    template_id = path_id(request, "templateId", what="template")
    body = validate(TemplatePatch, await read_json(request), what="template")
    changes = body.model_dump(exclude_none=True, exclude={"resources"})
    if body.resources is not None:
        changes["resources"] = [resource.model_dump() for resource in body.resources]
    async with request.app[STORE].transaction() as tx:
        stored = await db.select_template(tx.connection, template_id, for_update=True)
        if stored is None:
            raise NotFound(f"no template {template_id}")
        fields = dataclasses.replace(stored.fields, **changes)
        record = await db.update_template(
            tx.connection, template_id, fields, now=dt.datetime.now(dt.UTC)
        )
    assert record is not None  # the row is locked since it was read
    return _respond(request, record)


async def delete_template(request: web.Request) -> web.Response:
    """Delete a template; 204, or 404 if unknown."""
    template_id = path_id(request, "templateId", what="template")
    async with request.app[STORE].transaction() as tx:
        deleted = await db.delete_template(tx.connection, template_id)
    if not deleted:
        raise NotFound(f"no template {template_id}")
    structlog.contextvars.bind_contextvars(template_id=template_id)
    return web.Response(status=204)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the templates routes."""
    router.add_get(TEMPLATES, list_templates)
    router.add_post(TEMPLATES, create_template)
    router.add_get(f"{TEMPLATES}/{{templateId}}", get_template)
    router.add_patch(f"{TEMPLATES}/{{templateId}}", patch_template)
    router.add_delete(f"{TEMPLATES}/{{templateId}}", delete_template)

"""HTTP plumbing of the B2Core-style confirmations API: bodies, ids, list queries, locales."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel

from confirmhub.db.crud import ListQuery
from receiver.body import BodyKind, body_kind, parse_json, read_bounded, validate
from receiver.errors import InvalidPayload, NotFound, UnsupportedMediaType
from receiver.keys import SETTINGS
from schemas.confirmations import (
    CAPTION_RESOURCE_KEY,
    ProviderListQuery,
    TemplateListQuery,
    localized_value,
)

QueryT = TypeVar("QueryT", ProviderListQuery, TemplateListQuery)

_ID = re.compile(r"[0-9]{1,10}")
_MAX_ID = 2**31 - 1  # the INTEGER column's range; a larger id would fail in PostgreSQL
_FILTER_KEY = re.compile(r"filter\[([^\[\]]*)\]")
_MAX_LANGUAGES = 16


async def read_json(request: web.Request) -> Any:
    """The JSON body, sent as JSON, with no Content-Type, or as curl's default form type."""
    limit = request.app[SETTINGS].max_body_bytes
    if body_kind(request) is BodyKind.JSON:
        return parse_json(await read_bounded(request, limit=limit))
    # B2Core's curl examples use --data without a Content-Type header, which curl sends as
    # application/x-www-form-urlencoded: accept such a body when it is in fact JSON.
    raw = await read_bounded(request, limit=limit)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UnsupportedMediaType("send the body as JSON (application/json)") from None


def path_id(request: web.Request, name: str, *, what: str) -> int:
    """The integer id in the path; NotFound for anything that cannot be a stored id."""
    given = request.match_info[name]
    if not _ID.fullmatch(given) or not 1 <= int(given) <= _MAX_ID:
        raise NotFound(f"no {what} {given!r}")
    return int(given)


def list_query(query: MultiMapping[str], model: type[QueryT]) -> QueryT:
    """Validate ``limit``, ``offset``, ``sort_by``, ``sort_order`` and ``filter[…]``; 422 if bad."""
    params: dict[str, Any] = {}
    filters: dict[str, str] = {}
    for key in dict.fromkeys(query.keys()):
        values = query.getall(key)
        if len(values) > 1:
            raise InvalidPayload(f"invalid query: {key} is given {len(values)} times")
        match = _FILTER_KEY.fullmatch(key)
        if match:
            filters[match.group(1)] = values[0]
        else:
            params[key] = values[0]
    return validate(model, {**params, "filter": filters}, what="query")


def db_list_query(query: ProviderListQuery | TemplateListQuery) -> ListQuery:
    """The store's view of a validated list query (filter names become column names)."""
    filters: BaseModel = query.filter
    return ListQuery(
        limit=query.limit,
        offset=query.offset,
        descending=query.sort_order == "desc",
        filters=filters.model_dump(exclude_none=True),
    )


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def preferred_locales(header: str | None) -> list[str]:
    """The locales of an ``Accept-Language`` header, most preferred first (``*`` dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")[:_MAX_LANGUAGES]):
        tag, _, params = part.strip().partition(";")
        quality = _quality(params)
        if tag.strip() and tag.strip() != "*" and quality > 0:
            ranked.append((-quality, position, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


def localized_caption(
    caption: str, resources: Iterable[Mapping[str, str]], locales: list[str]
) -> str:
    """The first ``caption`` resource matching a preferred locale, else the stored caption."""
    resources = list(resources)
    for locale in locales:
        value = localized_value(resources, key=CAPTION_RESOURCE_KEY, locale=locale)
        if value:
            return value
    return caption


def json_response(
    body: bytes | str, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response of an already serialized body."""
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)

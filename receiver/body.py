"""Reading request bodies: bounded, typed by content type, parsed without surprises."""

from __future__ import annotations

import functools
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import unquote_plus

import orjson
from aiohttp import hdrs, web
from pydantic import BaseModel, ValidationError

from receiver.errors import BadRequest, InvalidPayload, PayloadTooLarge, UnsupportedMediaType
from receiver.text import text_codec
from schemas import limits

MAX_FORM_FIELDS = limits.FORM_FIELDS

ModelT = TypeVar("ModelT", bound=BaseModel)


class BodyKind(Enum):
    """How a body is encoded."""

    JSON = "json"
    FORM = "form"


def body_kind(request: web.Request) -> BodyKind:
    """JSON or form by the Content-Type header; a missing header is sniffed later as JSON."""
    if hdrs.CONTENT_TYPE not in request.headers:
        return BodyKind.JSON
    content_type = request.content_type
    if content_type == "application/json" or content_type.endswith("+json"):
        return BodyKind.JSON
    if content_type == "application/x-www-form-urlencoded":
        return BodyKind.FORM
    raise UnsupportedMediaType(
        f"content type {content_type!r} is not supported; "
        "send application/json or application/x-www-form-urlencoded"
    )


async def read_bounded(request: web.Request, *, limit: int) -> bytes:
    """Read the whole body, refusing more than ``limit`` bytes without buffering them."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"body is over the {limit}-byte limit")
    return bytes(body)


def parse_json(body: bytes) -> Any:
    """Decode a JSON body; BadRequest if it is not valid UTF-8 JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc.msg}") from None


async def read_json_body(request: web.Request, *, limit: int) -> Any:
    """The body of an API request that must be sent as JSON (415 otherwise), parsed."""
    if body_kind(request) is not BodyKind.JSON:
        raise UnsupportedMediaType("send application/json")
    return parse_json(await read_bounded(request, limit=limit))


def parse_form(body: bytes, *, charset: str | None) -> list[tuple[str, str]]:
    """Decode an URL-encoded form into ordered pairs, as ``parse_qsl`` with blank values
    kept would; UnsupportedMediaType for a charset that is not plain text (see
    ``receiver.text``), BadRequest on a bad encoding, PayloadTooLarge past MAX_FORM_FIELDS."""
    encoding = text_codec(charset)
    try:
        text = body.decode(encoding)
        if text.count("&") + 1 > MAX_FORM_FIELDS:
            raise PayloadTooLarge(f"form has more than {MAX_FORM_FIELDS} fields")
        pairs = []
        for field in text.split("&"):
            if not field:
                continue
            name, _, value = field.partition("=")
            if "%" in name or "+" in name:
                name = _form_key(name, encoding)
            if "%" in value or "+" in value:
                value = unquote_plus(value, encoding=encoding, errors="strict")
            pairs.append((name, value))
        return pairs
    except UnicodeDecodeError as exc:
        raise BadRequest(f"form body cannot be decoded: {exc}") from None


# Form keys are the same few dozen field names in every event (``data%5BTOKEN%5D``): decode
# each once. Values are not cached: they hold tokens.
@functools.lru_cache(maxsize=4096)
def _form_key(raw: str, encoding: str) -> str:
    return unquote_plus(raw, encoding=encoding, errors="strict")


def validation_problem(exc: ValidationError, *, what: str) -> InvalidPayload:
    """An InvalidPayload listing each failure's location and message, never the input."""
    errors = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return InvalidPayload(f"invalid {what}: {where}: {first['msg']}", errors=errors)


def validate(model: type[ModelT], value: Any, *, what: str) -> ModelT:
    """Validate ``value`` as ``model``, turning failures into a 422."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise validation_problem(exc, what=what) from None

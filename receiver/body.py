"""Reading request bodies: bounded, typed by content type, parsed without surprises."""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson
from aiohttp import hdrs, web
from pydantic import BaseModel, ValidationError

from receiver.errors import BadRequest, InvalidPayload, PayloadTooLarge, UnsupportedMediaType

MAX_FORM_FIELDS = 512

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


def parse_form(body: bytes, *, charset: str | None) -> list[tuple[str, str]]:
    """Decode an URL-encoded form into ordered pairs; BadRequest on a bad encoding."""
    try:
        text = body.decode(charset or "utf-8")
        return parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding=charset or "utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (LookupError, UnicodeDecodeError) as exc:
        raise BadRequest(f"form body cannot be decoded: {exc}") from None
    except ValueError as exc:  # too many fields
        raise PayloadTooLarge(str(exc)) from None


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

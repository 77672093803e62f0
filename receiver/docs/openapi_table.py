"""The vocabulary of the OpenAPI route table: operations, parameters, bodies and replies.

Schemas in the table are JSON Schema dicts that may hold ``ModelRef`` markers anywhere;
``receiver.docs.openapi_schemas`` replaces each marker with a ``$ref`` to the model's schema,
made by pydantic in the model's mode (``validation`` for what we read, ``serialization`` for
what we write), so the document is derived from the very models the handlers use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from schemas import limits
from schemas.api_keys import Scope

ParamLocation = Literal["path", "query", "header"]
Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call an operation: security schemes (any one will do) and, for API keys, the
    scope the key must hold. Each operation declares it once; ``receiver.access`` enforces it
    and the OpenAPI document shows it."""

    schemes: tuple[str, ...]
    scope: Scope | None = None


def api_key(scope: Scope) -> Access:
    """An API key holding ``scope`` (an ``admin`` key holds every scope)."""
    return Access(("apiKey",), scope)


ADMIN_KEY = api_key("admin")
CALLS_KEY = api_key("calls")
BITRIX24_KEY = api_key("bitrix24")
MCN_WEBHOOK = Access(("mcnBearer", "mcnToken"))
TWILIO_RECEIPT = Access(("twilioSignature",))
PUBLIC = Access(())

SECURITY_SCHEMES: dict[str, Schema] = {
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <API key>`, required on `/api/*` but these "
        "documents. A key is made with `POST /api/v1/api-keys` or `confirmhub api-keys "
        "create` and holds scopes: `calls` (`/api/v1/password-calls…`), `bitrix24` "
        "(`/api/v1/method-confirmations…`) or `admin` (everything). "
        "`CONFIRMHUB_ADMIN_TOKEN` is an `admin` key. Each operation names the scope it needs "
        "in its security requirement: a missing or unknown key is `401`, a key without the "
        "scope `403`.",
    },
    "mcnBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <CONFIRMHUB_MCN_WEBHOOK_SECRET>`.",
    },
    "twilioSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Twilio-Signature",
        "description": "Twilio's request signature: base64 HMAC-SHA1, keyed with the "
        "provider's auth token (`api_secret`), of the URL Twilio was given "
        "(`CONFIRMHUB_PUBLIC_URL` + path + query) followed by each form field sorted by name, "
        "name then value.",
    },
    "mcnToken": {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "`?token=<CONFIRMHUB_MCN_WEBHOOK_SECRET>`, for webhook senders "
        "that cannot set a header.",
    },
}

# Statuses every body-reading route can answer: unparseable, too large, wrong type, invalid.
BODY_ERRORS = (400, 413, 415, 422)


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A pydantic model's JSON Schema in one mode, resolved to a ``$ref`` when rendered."""

    model: type[BaseModel]
    mode: JsonSchemaMode


def reads(model: type[BaseModel]) -> ModelRef:
    """The schema of a model the server validates input with."""
    return ModelRef(model, "validation")


def writes(model: type[BaseModel]) -> ModelRef:
    """The schema of a model the server serializes a response from."""
    return ModelRef(model, "serialization")


def type_schema(annotation: Any) -> Schema:
    """The inline JSON Schema of a type (an ``Annotated`` alias, a ``Literal``…)."""
    return TypeAdapter(annotation).json_schema()


@dataclass(frozen=True, slots=True)
class Param:
    """A path, query or header parameter."""

    name: str
    location: ParamLocation
    schema: Schema | ModelRef
    description: str = ""
    required: bool = False
    deep_object: bool = False


def path_param(name: str, schema: Schema, description: str) -> Param:
    """A required path parameter."""
    return Param(name, "path", schema, description, required=True)


def _not_null(schema: Schema) -> Schema:
    """A field schema without its ``null`` branch and default: a query string has no null."""
    branches = [branch for branch in schema.get("anyOf", []) if branch != {"type": "null"}]
    rest = {key: value for key, value in schema.items() if key not in {"anyOf", "default"}}
    return {**rest, **branches[0]} if len(branches) == 1 else schema


def query_params(model: type[BaseModel]) -> tuple[Param, ...]:
    """Query parameters from a query model's fields; nested models become ``deepObject``."""
    properties = model.model_json_schema(mode="validation")["properties"]
    params = []
    for name, info in model.model_fields.items():
        wire = info.alias or name
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            fields = nested.model_json_schema(mode="validation")
            fields["properties"] = {
                key: _not_null(value) for key, value in fields["properties"].items()
            }
            description = f"`{wire}[field]=value`: exact matches on the listed fields."
            params.append(Param(wire, "query", fields, description, deep_object=True))
        else:
            params.append(Param(wire, "query", properties[wire], info.description or ""))
    return tuple(params)


@dataclass(frozen=True, slots=True)
class Body:
    """A request body: a schema per media type, and how form fields nest (``a[b]=…``)."""

    content: Mapping[str, Schema | ModelRef]
    description: str = ""
    deep_objects: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def json_body(schema: Schema | ModelRef, description: str = "") -> Body:
    """A body sent as ``application/json``."""
    return Body({"application/json": schema}, description)


@dataclass(frozen=True, slots=True)
class Header:
    """A response header."""

    description: str
    schema: Schema
    required: bool = True


@dataclass(frozen=True, slots=True)
class Reply:
    """A documented success response."""

    description: str
    schema: Schema | ModelRef | None = None
    media_type: str = "application/json"
    headers: Mapping[str, Header] = field(default_factory=dict)


LOCATION = Header("The path of the created resource.", {"type": "string"})
IDEMPOTENT_REPLAYED = Header(
    "`true` when the answer is a replay of the first request with the same Idempotency-Key.",
    {"type": "string", "enum": ["true"]},
    required=False,
)
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    {"type": "string", "minLength": 1, "maxLength": limits.IDEMPOTENCY_KEY},
    "Makes the POST safe to retry (IETF httpapi Idempotency-Key draft; a bare or quoted "
    "string of printable ASCII, per API key, kept 24 h). The same key with the same request "
    "replays the first answer with `Idempotent-Replayed: true` and does nothing again; "
    "with another request: `422` `idempotency-key-reused`; while the first is running: "
    "`409` `idempotency-key-in-use`; after a first request that may have placed a call "
    "(`mcn-answer-lost`, `call-not-recorded`): `409` `idempotency-key-in-doubt`. A first "
    "request that failed otherwise releases the key. Unusable: `400` "
    "`invalid-idempotency-key`.",
)
TOTAL_COUNT = Header(
    "How many items match the filter, ignoring `limit` and `offset`.",
    {"type": "integer", "minimum": 0},
)
ACCEPT_LANGUAGE = Param(
    "Accept-Language",
    "header",
    {"type": "string"},
    "Preferred locales for `caption` (its `caption` resources); the stored caption otherwise.",
)


@dataclass(frozen=True, slots=True)
class Operation:
    """One HTTP route: who may call it, what it takes, and every status it can answer
    (``401`` and ``403`` go without saying on an API key's operations)."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    replies: Mapping[int, Reply]
    errors: tuple[int, ...] = ()
    access: Access = ADMIN_KEY
    params: tuple[Param, ...] = ()
    body: Body | None = None
    description: str = ""

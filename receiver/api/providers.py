"""``/api/v2/confirmations/…``: B2Core-style SMS providers and message templates.

Secret provider options are encrypted with ``CONFIRMHUB_SECRETS_KEY`` before they are
stored and shown only as ``********``; without the key, storing one answers 503.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

import orjson
import structlog
from aiohttp import web
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from confirmhub.crypto import SecretsBox, SecretsKeyMissing
from confirmhub.db import confirmations as db
from receiver.api import templates
from receiver.api.b2core import (
    db_list_query,
    json_response,
    list_query,
    localized_caption,
    path_id,
    preferred_locales,
    read_json,
)
from receiver.body import validate, validation_problem
from receiver.errors import NotConfigured, NotFound
from receiver.keys import SETTINGS, STORE
from schemas.confirmations import ProviderCreate, ProviderListQuery, ProviderPatch, ProviderView
from schemas.provider_settings import (
    PROVIDER_TYPES,
    SECRET_MASK,
    CheckedOptions,
    check_options,
    credential_names,
    secret_names,
    settings_schema,
)

PROVIDERS = "/api/v2/confirmations/providers"
# The message of a secret kept across a change of base_url.
_GIVE_AGAIN = "Input should be given again: a stored secret is not sent to a new base_url"


def _box(request: web.Request) -> SecretsBox:
    return SecretsBox(request.app[SETTINGS].secrets_key)


def stored_secret_names(fields: db.ProviderFields) -> frozenset[str]:
    """The secrets stored for a provider, known without decrypting them: its credentials
    whenever any secret is stored, and an optional secret by the ``********`` its options
    keep in its place."""
    if fields.secrets_encrypted is None:
        return frozenset()
    optional = secret_names(fields.provider) - credential_names(fields.provider)
    marked = {name for name in optional if fields.options.get(name) == SECRET_MASK}
    return credential_names(fields.provider) | marked


def _public_options(provider: str, checked: CheckedOptions) -> dict[str, str]:
    """The options stored in the clear: the public ones, and a ``********`` marking each
    optional secret that is stored."""
    optional = secret_names(provider) - credential_names(provider)
    stored = (checked.secrets.keys() | checked.kept_secrets) & optional
    return {**checked.public, **dict.fromkeys(sorted(stored), SECRET_MASK)}


def provider_view(record: db.ProviderRecord, locales: list[str]) -> ProviderView:
    """The API view of a stored provider: every stored secret shown as ``********``."""
    fields = record.fields
    masked = dict.fromkeys(stored_secret_names(fields), SECRET_MASK)
    return ProviderView.model_validate(
        {
            "id": record.id,
            "name": fields.name,
            "caption": localized_caption(fields.caption, fields.resources, locales),
            "provider": fields.provider,
            "is_enabled": fields.is_enabled,
            "priority": fields.priority,
            "options": {**fields.options, **masked},
            "resources": fields.resources,
            "create_time": record.create_time,
            "update_time": record.update_time,
        }
    )


def _respond(request: web.Request, record: db.ProviderRecord, *, status: int = 200) -> web.Response:
    structlog.contextvars.bind_contextvars(provider_id=record.id)
    view = provider_view(record, preferred_locales(request.headers.get("Accept-Language")))
    return json_response(view.model_dump_json(by_alias=True), status=status)


def _checked(
    provider: str, options: Mapping[str, object], stored_secrets: frozenset[str]
) -> CheckedOptions:
    try:
        return check_options(provider, options, stored_secrets=stored_secrets)
    except ValidationError as exc:
        raise validation_problem(exc, what="provider") from None


def _stored_secrets(
    box: SecretsBox, stored: db.ProviderFields | None, checked: CheckedOptions
) -> bytes | None:
    """The encrypted secrets to store: new ones merged over the kept ones."""
    if not checked.secrets:
        return stored.secrets_encrypted if stored is not None and checked.kept_secrets else None
    try:
        kept = {}
        if stored is not None and checked.kept_secrets:
            previous = db.decrypt_secrets(box, stored.secrets_encrypted)
            kept = {key: previous[key] for key in checked.kept_secrets if key in previous}
        return db.encrypt_secrets(box, {**kept, **checked.secrets})
    except SecretsKeyMissing as exc:
        raise NotConfigured(f"{exc}; provider secrets cannot be stored") from None


async def list_providers(request: web.Request) -> web.Response:
    """The providers matching ``filter[…]``, paged; the total is in ``X-Total-Count``."""
    query = list_query(request.query, ProviderListQuery)
    async with request.app[STORE].reading() as connection:
        page = await db.list_providers(connection, db_list_query(query))
    locales = preferred_locales(request.headers.get("Accept-Language"))
    views = [
        provider_view(record, locales).model_dump(mode="json", by_alias=True)
        for record in page.items
    ]
    return json_response(orjson.dumps(views), headers={"X-Total-Count": str(page.total)})


async def create_provider(request: web.Request) -> web.Response:
    """Configure a new provider; 201 with it, secrets masked."""
    body = validate(ProviderCreate, await read_json(request), what="provider")
    checked = _checked(body.provider, body.options, frozenset())
    fields = db.ProviderFields(
        name=body.name,
        caption=body.caption,
        provider=body.provider,
        is_enabled=body.is_enabled,
        priority=body.priority,
        options=_public_options(body.provider, checked),
        secrets_encrypted=_stored_secrets(_box(request), None, checked),
        resources=[resource.model_dump() for resource in body.resources],
    )
    async with request.app[STORE].transaction() as tx:
        record = await db.insert_provider(tx.connection, fields, now=dt.datetime.now(dt.UTC))
    response = _respond(request, record, status=201)
    response.headers["Location"] = f"{PROVIDERS}/{record.id}"
    return response


async def get_provider(request: web.Request) -> web.Response:
    """One provider; 404 if unknown."""
    provider_id = path_id(request, "providerId", what="provider")
    async with request.app[STORE].reading() as connection:
        record = await db.select_provider(connection, provider_id)
    if record is None:
        raise NotFound(f"no provider {provider_id}")
    return _respond(request, record)


def _destination(options: Mapping[str, object]) -> str | None:
    """Where a provider's requests go: its ``base_url``, or None for its type's own host."""
    value = options.get("base_url")
    return value.strip().rstrip("/") or None if isinstance(value, str) else None


def _require_secrets_again(provider: str, options: Mapping[str, object]) -> None:
    """422 naming each credential a PATCH would keep while ``base_url`` changes: a stored
    credential only ever goes to the host it was entered for, so a new host needs it given
    again (a secret that only checks what the provider sends us goes nowhere)."""
    errors: list[InitErrorDetails] = [
        {
            "type": PydanticCustomError("secret_required", _GIVE_AGAIN),
            "loc": ("options", name),
            "input": None,
        }
        for name in sorted(credential_names(provider))
        if options.get(name, SECRET_MASK) == SECRET_MASK
    ]
    if errors:
        exc = ValidationError.from_exception_data("options", errors)
        raise validation_problem(exc, what="provider")


def _patched(stored: db.ProviderFields, body: ProviderPatch, box: SecretsBox) -> db.ProviderFields:
    """Merge a PATCH onto the stored provider (see ``schemas.confirmations`` for the rules)."""
    provider = body.provider or stored.provider
    same_type = provider == stored.provider
    # Another type's credentials mean nothing to the new type: a type change drops them all.
    kept = stored_secret_names(stored) if same_type else frozenset()
    options = stored.options if body.options is None else body.options
    if kept and _destination(options) != _destination(stored.options):
        _require_secrets_again(provider, options)
    checked = _checked(provider, options, kept)
    changes = body.model_dump(
        include={"name", "caption", "is_enabled", "priority"}, exclude_none=True
    )
    if body.resources is not None:
        changes["resources"] = [resource.model_dump() for resource in body.resources]
    return dataclasses.replace(
        stored,
        **changes,
        provider=provider,
        options=_public_options(provider, checked),
        secrets_encrypted=_stored_secrets(box, stored, checked),
    )


async def patch_provider(request: web.Request) -> web.Response:
    """Change some of a provider's fields; 200 with the result, 404 if unknown."""
    provider_id = path_id(request, "providerId", what="provider")
    body = validate(ProviderPatch, await read_json(request), what="provider")
    async with request.app[STORE].transaction() as tx:
        stored = await db.select_provider(tx.connection, provider_id, for_update=True)
        if stored is None:
            raise NotFound(f"no provider {provider_id}")
        fields = _patched(stored.fields, body, _box(request))
        record = await db.update_provider(
            tx.connection, provider_id, fields, now=dt.datetime.now(dt.UTC)
        )
    assert record is not None  # the row is locked since it was read
    return _respond(request, record)


async def delete_provider(request: web.Request) -> web.Response:
    """Delete a provider; 204, or 404 if unknown."""
    provider_id = path_id(request, "providerId", what="provider")
    async with request.app[STORE].transaction() as tx:
        deleted = await db.delete_provider(tx.connection, provider_id)
    if not deleted:
        raise NotFound(f"no provider {provider_id}")
    structlog.contextvars.bind_contextvars(provider_id=provider_id)
    return web.Response(status=204)


async def provider_types(request: web.Request) -> web.Response:
    """The provider types this server can send through."""
    return json_response(orjson.dumps(list(PROVIDER_TYPES)))


async def provider_type_settings(request: web.Request) -> web.Response:
    """The settings schema of one provider type; 404 if unknown."""
    provider = request.match_info["type"]
    schema = settings_schema(provider)
    if schema is None:
        raise NotFound(f"no provider type {provider!r}")
    return json_response(orjson.dumps(schema))


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the providers and templates routes."""
    router.add_get(PROVIDERS, list_providers)
    router.add_post(PROVIDERS, create_provider)
    # The static "types" routes go first, or "{providerId}" would capture "types".
    router.add_get(f"{PROVIDERS}/types", provider_types)
    router.add_get(f"{PROVIDERS}/types/{{type}}/settings", provider_type_settings)
    router.add_get(f"{PROVIDERS}/{{providerId}}", get_provider)
    router.add_patch(f"{PROVIDERS}/{{providerId}}", patch_provider)
    router.add_delete(f"{PROVIDERS}/{{providerId}}", delete_provider)
    templates.add_routes(router)

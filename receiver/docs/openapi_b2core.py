"""The OpenAPI route table of the B2Core-style ``/api/v2/confirmations`` API."""

from __future__ import annotations

from pydantic import BaseModel

from receiver.api.providers import PROVIDERS
from receiver.api.templates import TEMPLATES
from receiver.docs.openapi_table import (
    ACCEPT_LANGUAGE,
    BODY_ERRORS,
    LOCATION,
    TOTAL_COUNT,
    ModelRef,
    Operation,
    Param,
    Reply,
    Schema,
    json_body,
    path_param,
    query_params,
    reads,
    type_schema,
    writes,
)
from schemas.confirmations import (
    ProviderCreate,
    ProviderListQuery,
    ProviderPatch,
    ProviderView,
    TemplateCreate,
    TemplateListQuery,
    TemplatePatch,
    TemplateView,
)
from schemas.provider_options import options_by_type
from schemas.provider_settings import ProviderType, SettingsField

# Ids are the database's INTEGER keys; anything else cannot name a stored row (404).
_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
_JSON_NOTE = (
    "Sent as JSON; a JSON body labelled `application/x-www-form-urlencoded` (curl's "
    "`--data` default, as in B2Core's examples) is accepted too."
)
_PATCH_NOTE = (
    "Absent or null fields keep their stored value; `resources` replaces the list. For a "
    "provider, `options` replace the non-secret options, a secret omitted or sent as "
    "`********` is kept, and a new `provider` type needs that type's options. A changed "
    "`base_url` needs every secret given again (422 naming each): a stored secret is never "
    "sent to a new host."
)


def _crud(
    *,
    base: str,
    tag: str,
    noun: str,
    id_name: str,
    views: type[BaseModel],
    query: type[BaseModel],
    create: Schema | ModelRef,
    patch: Schema | ModelRef,
) -> tuple[Operation, ...]:
    """List, create, read, patch and delete of one B2Core collection."""
    item = f"{base}/{{{id_name}}}"
    id_param = path_param(id_name, _ID_SCHEMA, f"The {noun}'s id.")
    view = writes(views)
    one = Reply(f"The {noun}.", view)
    keyed: tuple[Param, ...] = (id_param, ACCEPT_LANGUAGE)
    return (
        Operation(
            "get",
            base,
            f"list_{noun}s",
            f"List {noun}s",
            tag,
            {
                200: Reply(
                    f"The {noun}s of the page, oldest first unless `sort_order=desc`.",
                    {"type": "array", "items": view},
                    headers={"X-Total-Count": TOTAL_COUNT},
                )
            },
            errors=(422, 503),
            params=(*query_params(query), ACCEPT_LANGUAGE),
        ),
        Operation(
            "post",
            base,
            f"create_{noun}",
            f"Create a {noun}",
            tag,
            {201: Reply(f"The new {noun}.", view, headers={"Location": LOCATION})},
            errors=(*BODY_ERRORS, 503),
            params=(ACCEPT_LANGUAGE,),
            body=json_body(create, _JSON_NOTE),
        ),
        Operation(
            "get",
            item,
            f"get_{noun}",
            f"One {noun}",
            tag,
            {200: one},
            errors=(404, 503),
            params=keyed,
        ),
        Operation(
            "patch",
            item,
            f"patch_{noun}",
            f"Change some of a {noun}'s fields",
            tag,
            {200: one},
            errors=(*BODY_ERRORS, 404, 503),
            params=keyed,
            body=json_body(patch, f"{_PATCH_NOTE} {_JSON_NOTE}"),
        ),
        Operation(
            "delete",
            item,
            f"delete_{noun}",
            f"Delete a {noun}",
            tag,
            {204: Reply("Deleted.")},
            errors=(404, 503),
            params=(id_param,),
        ),
    )


PROVIDER_ROUTES = (
    *_crud(
        base=PROVIDERS,
        tag="confirmation providers",
        noun="provider",
        id_name="providerId",
        views=ProviderView,
        query=ProviderListQuery,
        # Options are checked against the provider type's settings, one variant per type.
        create={"allOf": [reads(ProviderCreate)], "anyOf": options_by_type()},
        patch={"allOf": [reads(ProviderPatch)], "anyOf": options_by_type(patch=True)},
    ),
    Operation(
        "get",
        f"{PROVIDERS}/types",
        "provider_types",
        "The provider types this server can send through",
        "confirmation providers",
        {200: Reply("Type names.", {"type": "array", "items": type_schema(ProviderType)})},
    ),
    Operation(
        "get",
        f"{PROVIDERS}/types/{{type}}/settings",
        "provider_type_settings",
        "The settings schema of a provider type",
        "confirmation providers",
        {
            200: Reply(
                "Option name → field; `options` of a provider are checked against it.",
                {"type": "object", "additionalProperties": writes(SettingsField)},
            )
        },
        errors=(404,),
        params=(path_param("type", type_schema(ProviderType), "A provider type."),),
    ),
)

TEMPLATE_ROUTES = _crud(
    base=TEMPLATES,
    tag="confirmation templates",
    noun="template",
    id_name="templateId",
    views=TemplateView,
    query=TemplateListQuery,
    create=reads(TemplateCreate),
    patch=reads(TemplatePatch),
)

ROUTES = (*PROVIDER_ROUTES, *TEMPLATE_ROUTES)

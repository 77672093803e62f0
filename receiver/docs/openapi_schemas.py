"""JSON Schemas of the pydantic models, as the OpenAPI document references them.

Pydantic generates each model's schema; ``InputJsonSchema`` adds what a schema cannot learn
from the types alone: what the lenient validators accept (``CONFIRMED`` as ``"1"``/``"0"``,
a Q.931 status as a numeric string, ``en-US`` for ``en_US``) and what the template validators
require (``%CODE%``), so generated requests are valid exactly when the server accepts them.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator
from pydantic.json_schema import (
    GenerateJsonSchema,
    JsonSchemaMode,
    JsonSchemaValue,
    models_json_schema,
)
from pydantic_core import core_schema

from receiver.docs.openapi_table import ModelRef, Schema
from schemas.bitrix24 import Confirmed
from schemas.confirmations import (
    CODE_PLACEHOLDER,
    TEMPLATE_RESOURCE_KEY,
    Locale,
    TemplateResources,
    TemplateText,
)
from schemas.mcn import Q931Status

REF_TEMPLATE = "#/components/schemas/{model}"


def _validator(alias: Any, kind: type[BeforeValidator | AfterValidator]) -> Any:
    """The function of the ``kind`` validator in an ``Annotated`` alias."""
    return next(meta.func for meta in get_args(alias)[1:] if isinstance(meta, kind))


_ZERO_OR_ONE = _validator(Confirmed, BeforeValidator)
_NOT_A_BOOLEAN = _validator(Q931Status, BeforeValidator)
_UNDERSCORE_LOCALE = _validator(Locale, BeforeValidator)
_REQUIRE_CODE = _validator(TemplateText, AfterValidator)
_TEMPLATES_CARRY_CODE = _validator(TemplateResources, AfterValidator)
_HAS_CODE = {"pattern": CODE_PLACEHOLDER}
# A Q.931 status sent as a decimal string, 0 to 65535.
_STATUS_STRING = (
    "^(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
)
# Bounds on a validated type come out under their Python names; JSON Schema has its own.
_INEQUALITIES = {
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusiveMinimum",
    "lt": "exclusiveMaximum",
}


class InputJsonSchema(GenerateJsonSchema):
    """Pydantic's generator, told what input the lenient before-validators really accept."""

    def generate_inner(self, schema: Any) -> JsonSchemaValue:  # a core schema or field
        """Pydantic's schema, with bounds that it leaves as ``ge``/``le`` given their names."""
        generated = super().generate_inner(schema)
        metadata: dict[str, Any] = dict(schema.get("metadata") or {})
        updates = metadata.get("pydantic_js_updates") or {}
        for name in updates.keys() & _INEQUALITIES.keys():
            if name in generated:
                generated[_INEQUALITIES[name]] = generated.pop(name)
        return generated

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> Any:
        """The inner type's schema, widened or narrowed to the validator's accepted input."""
        inner = super().function_before_schema(schema)
        if self.mode != "validation":
            return inner
        function = schema["function"]["function"]
        if function is _ZERO_OR_ONE:
            return {"enum": ["1", "0", 1, 0], "description": "1 granted, 0 denied."}
        if function is _NOT_A_BOOLEAN:
            return {"anyOf": [inner, {"type": "string", "pattern": _STATUS_STRING}]}
        if function is _UNDERSCORE_LOCALE:  # en-US is read as en_US, then checked
            (constraints,) = (meta for meta in get_args(Locale) if hasattr(meta, "pattern"))
            return {"type": "string", "pattern": constraints.pattern.replace("_", "[_-]")}
        return inner

    def function_after_schema(self, schema: core_schema.AfterValidatorFunctionSchema) -> Any:
        """The inner type's schema, plus what the after-validators require of templates."""
        inner = super().function_after_schema(schema)
        if self.mode != "validation":
            return inner
        function = schema["function"]["function"]
        if function is _REQUIRE_CODE:
            return {**inner, **_HAS_CODE}
        if function is _TEMPLATES_CARRY_CODE:
            template = {"properties": {"key": {"const": TEMPLATE_RESOURCE_KEY}}}
            conditional = {"if": template, "then": {"properties": {"value": _HAS_CODE}}}
            return {**inner, "items": {**inner["items"], **conditional}}
        return inner


def _walk(node: Any, found: dict[ModelRef, None]) -> None:
    if isinstance(node, ModelRef):
        found[node] = None
    elif isinstance(node, dict):
        for value in node.values():
            _walk(value, found)
    elif isinstance(node, list | tuple):
        for value in node:
            _walk(value, found)


def _substitute(node: Any, refs: dict[ModelRef, Schema]) -> Any:
    if isinstance(node, ModelRef):
        return refs[node]
    if isinstance(node, dict):
        return {key: _substitute(value, refs) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [_substitute(value, refs) for value in node]
    return node


def resolve_models(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Schema]]:
    """Replace every ``ModelRef`` with a ``$ref``; also return the definitions they point at."""
    found: dict[ModelRef, None] = {}
    _walk(document, found)
    keys: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ref.model, ref.mode) for ref in found]
    refs, top = models_json_schema(
        keys, ref_template=REF_TEMPLATE, schema_generator=InputJsonSchema
    )
    by_marker = {ref: refs[(ref.model, ref.mode)] for ref in found}
    definitions = top.get("$defs", {})
    return _substitute(document, by_marker), dict(sorted(definitions.items()))

"""JSON Schema of each provider type's ``options``, derived from its settings fields.

``check_options`` validates options against the fields of ``provider_settings``; this module
states the same rules as JSON Schema for the API documentation: required options, Laravel-style
rules as patterns, secrets that a PATCH may omit or send as ``********`` to keep.
"""

from __future__ import annotations

from typing import Any

from schemas import provider_settings as settings
from schemas.provider_settings import MAX_OPTION_LENGTH, PROVIDER_TYPES, SECRET_MASK

Schema = dict[str, Any]

# Python's \s also matches these, which a JSON Schema (ECMA-262) \s does not.
_PY_SPACE = r"\s\x1c-\x1f\x85"
_NOT_BLANK = f"[^{_PY_SPACE}]"
_PHONE = f"^{settings._PHONE.pattern}$"
_EMAIL = "^" + settings._EMAIL.pattern.replace(r"\s", _PY_SPACE) + "$"
# The same expressions check_options applies with fullmatch().
RULE_SCHEMAS: dict[str, Schema] = {
    "phone:AUTO": {"pattern": _PHONE},
    "email": {"pattern": _EMAIL},
    "url": {"format": "uri", "pattern": "^https?://[^/?#@:]+"},
    "sender_id": {
        "anyOf": [{"pattern": _PHONE}, {"pattern": f"^{settings._ALPHANUMERIC_SENDER.pattern}$"}]
    },
}


def _rule_schema(rule: str) -> Schema:
    """The JSON Schema of one rule; ``in:a,b`` is an enum, unknown rules are ``{}``."""
    if rule.startswith("in:"):
        return {"enum": rule[3:].split(",")}
    return RULE_SCHEMAS.get(rule, {})


_ABSENT: list[Schema] = [{"type": "null"}, {"type": "string", "pattern": f"^[{_PY_SPACE}]*$"}]


def option_schema(field: settings.SettingsField, *, patch: bool) -> Schema:
    """One option: a non-blank string obeying the field's rules; blank or null when optional."""
    value: Schema = {"type": "string", "maxLength": MAX_OPTION_LENGTH, "pattern": _NOT_BLANK}
    rules = [_rule_schema(rule) for rule in field.rule or () if _rule_schema(rule)]
    if rules:
        value = {"allOf": [value, *rules]}
    if field.secret:
        value = {**value, "not": {"const": SECRET_MASK}}
        if patch or not field.required:  # the mask keeps the stored secret, if any
            value = {"anyOf": [value, {"const": SECRET_MASK}]}
        if not field.required:
            value = {"anyOf": [value, *_ABSENT]}
        return {**value, "writeOnly": True}
    return value if field.required else {"anyOf": [value, *_ABSENT]}


def options_schema(provider: str, *, patch: bool = False) -> Schema:
    """The ``options`` object of one provider type (for a PATCH, stored secrets may be kept)."""
    fields = settings.settings_fields(provider) or ()
    return {
        "type": "object",
        "properties": {field.name: option_schema(field, patch=patch) for field in fields},
        "required": [
            field.name for field in fields if field.required and not (patch and field.secret)
        ],
        "additionalProperties": False,
    }


def options_by_type(*, patch: bool = False) -> list[Schema]:
    """One alternative per provider type: its ``provider`` name and its ``options``."""
    return [
        {
            "title": provider,
            "properties": {
                "provider": {"const": provider},
                "options": options_schema(provider, patch=patch),
            },
        }
        for provider in PROVIDER_TYPES
    ]

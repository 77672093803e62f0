"""SMS provider types: their settings schemas (as B2Core shows them) and option validation.

Each type's settings are a dict of option name → field, shaped like B2Core's Twilio example:
``label``, ``rule`` (Laravel-style rules or null), ``class`` (the RabbitCMS form control),
``name``, ``classes``, ``value``, ``messages``. The same fields drive validation, so the
schema a client reads is the schema its options are checked against.

Rules: ``required``; ``phone:AUTO`` (7 to 15 digits, optional leading ``+``, like
``+995595854561``); ``email``; ``url`` (http or https); ``sender_id`` (a phone number or an
alphanumeric sender id of at most 11 characters, as Vonage allows); ``in:a,b,…`` (one of the
listed words).

Fields of class ``Password`` are secrets: stored encrypted and never shown. They carry
``rule: null`` as in B2Core's example, because a form never re-sends a stored password, yet
each is required: a provider cannot send an SMS without its credentials. The one exception
is a secret that only checks what the provider sends us (Vonage's ``signature_secret``, for
its signed delivery receipts): it carries ``rule: ["nullable"]`` and may be left out. The
string ``********`` in a secret field means "keep the stored value" (what a client echoes
back from a read).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from schemas.base import OwnModel

ProviderType = Literal["Twilio", "Vonage", "SMSAero"]
PROVIDER_TYPES: tuple[str, ...] = get_args(ProviderType)

INPUT = "RabbitCMS\\Forms\\Controls\\Input"
PASSWORD = "RabbitCMS\\Forms\\Controls\\Password"  # noqa: S105  # a class name
SECRET_MASK = "********"  # noqa: S105  # what a read shows instead
MAX_OPTION_LENGTH = 1024

# fullmatch() everywhere: "$" would also accept a trailing newline.
_PHONE = re.compile(r"\+?[0-9]{7,15}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ]{0,10}")


class SettingsField(OwnModel):
    """One option of a provider type, as ``…/types/{type}/settings`` shows it."""

    label: str
    rule: list[str] | None
    control: str = Field(alias="class")
    name: str
    classes: list[str] = Field(default_factory=list)
    value: str | None = None
    messages: list[str] = Field(default_factory=list)

    @property
    def secret(self) -> bool:
        """Whether the option is a secret (a Password control)."""
        return self.control == PASSWORD

    @property
    def required(self) -> bool:
        """Whether the option must be set; secrets must unless ``nullable``."""
        rules = self.rule or []
        return "required" in rules or (self.secret and "nullable" not in rules)


def _field(name: str, label: str, rule: list[str] | None, control: str = INPUT) -> SettingsField:
    return SettingsField.model_validate(
        {"label": label, "rule": rule, "class": control, "name": name}
    )


# Lets tests (and on-premise gateways) point a provider at another host.
_BASE_URL = _field("base_url", "API base URL", ["url"])

# Vonage's signing algorithms, as its dashboard names them; "MD5 hash" is its default.
VONAGE_SIGNATURE_METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")

_SETTINGS: dict[str, tuple[SettingsField, ...]] = {
    "Twilio": (
        _field("api_sid", "API sid", ["required"]),
        _field("api_secret", "API secret", None, PASSWORD),
        _field("from", "Sender phone number", ["phone:AUTO", "required"]),
        _BASE_URL,
    ),
    "Vonage": (
        _field("api_key", "API key", ["required"]),
        _field("api_secret", "API secret", None, PASSWORD),
        _field("from", "Sender ID or phone number", ["sender_id", "required"]),
        _BASE_URL,
        _field("signature_secret", "Signature secret (signed receipts)", ["nullable"], PASSWORD),
        _field(
            "signature_method",
            "Signature method",
            ["in:" + ",".join(VONAGE_SIGNATURE_METHODS)],
        ),
    ),
    "SMSAero": (
        _field("email", "Account email", ["email", "required"]),
        _field("api_key", "API key", None, PASSWORD),
        _field("sign", "Sender name", None),
        _BASE_URL,
    ),
}


def settings_fields(provider: str) -> tuple[SettingsField, ...] | None:
    """The option fields of a provider type, or None for an unknown type."""
    return _SETTINGS.get(provider)


def settings_schema(provider: str) -> dict[str, dict[str, Any]] | None:
    """The settings schema of a provider type as B2Core renders it, or None if unknown."""
    fields = settings_fields(provider)
    if fields is None:
        return None
    return {field.name: field.model_dump(by_alias=True) for field in fields}


def secret_names(provider: str) -> frozenset[str]:
    """The secret option names of a provider type."""
    return frozenset(field.name for field in settings_fields(provider) or () if field.secret)


def credential_names(provider: str) -> frozenset[str]:
    """The secrets a provider type must have: those its requests carry to its host."""
    fields = settings_fields(provider) or ()
    return frozenset(field.name for field in fields if field.secret and field.required)


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


_RULES: dict[str, tuple[Callable[[str], bool], str]] = {
    "phone:AUTO": (
        lambda value: bool(_PHONE.fullmatch(value)),
        "Input should be a phone number of 7 to 15 digits, like +995595854561",
    ),
    "email": (lambda value: bool(_EMAIL.fullmatch(value)), "Input should be an email address"),
    "url": (_is_url, "Input should be an http or https URL"),
    "sender_id": (
        lambda value: bool(_PHONE.fullmatch(value) or _ALPHANUMERIC_SENDER.fullmatch(value)),
        "Input should be a phone number or an alphanumeric sender id of at most 11 characters",
    ),
}


def _rule_check(rule: str) -> tuple[Callable[[str], bool], str] | None:
    """The check and message of a rule; ``in:a,b`` is built from its words."""
    if rule.startswith("in:"):
        words = rule[3:].split(",")
        return (lambda value: value in words), f"Input should be one of: {', '.join(words)}"
    return _RULES.get(rule)


@dataclass(frozen=True, slots=True)
class CheckedOptions:
    """Options that passed validation, split into what may be shown and what is secret."""

    public: dict[str, str]
    secrets: dict[str, str]
    kept_secrets: frozenset[str]


def _error(name: str, kind: str | PydanticCustomError, value: object) -> InitErrorDetails:
    return {"type": kind, "loc": ("options", name), "input": value}


def _check_field(
    field: SettingsField, value: object, stored_secrets: frozenset[str]
) -> InitErrorDetails | None:
    """The error of one option, if any; a blank or null value counts as absent."""
    if value is not None and not isinstance(value, str):
        return _error(field.name, "string_type", value)
    if field.secret and value == SECRET_MASK:
        if field.name in stored_secrets:
            return None
        value = None  # nothing stored to keep
    if value is None or not value.strip():
        return _error(field.name, "missing", value) if field.required else None
    if len(value) > MAX_OPTION_LENGTH:
        message = f"Input should have at most {MAX_OPTION_LENGTH} characters"
        return _error(field.name, PydanticCustomError("string_too_long", message), value)
    for rule in field.rule or ():
        check = _rule_check(rule)
        if check is not None and not check[0](value):
            return _error(field.name, PydanticCustomError("option_rule", check[1]), value)
    return None


def check_options(
    provider: str,
    options: Mapping[str, object],
    *,
    stored_secrets: frozenset[str] = frozenset(),
) -> CheckedOptions:
    """Validate ``options`` for a provider type; ValidationError (locations under ``options``).

    ``stored_secrets`` names the secrets already stored: those may be omitted or sent as
    ``********`` and are then kept.
    """
    fields = settings_fields(provider) or ()
    known = {field.name for field in fields}
    errors = [
        _error(name, "extra_forbidden", value)
        for name, value in options.items()
        if name not in known
    ]
    public: dict[str, str] = {}
    secrets: dict[str, str] = {}
    kept: set[str] = set()
    for field in fields:
        value = options.get(field.name, SECRET_MASK if field.secret else None)
        error = _check_field(field, value, stored_secrets)
        if error is not None:
            errors.append(error)
        elif field.secret and value == SECRET_MASK:
            if field.name in stored_secrets:  # else an optional secret left unset
                kept.add(field.name)
        elif isinstance(value, str) and value.strip():
            (secrets if field.secret else public)[field.name] = value
    if errors:
        raise ValidationError.from_exception_data("options", errors)
    return CheckedOptions(public=public, secrets=secrets, kept_secrets=frozenset(kept))

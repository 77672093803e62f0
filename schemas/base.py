"""Base classes: lenient for what upstreams send, strict for what we publish."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, SecretStr):
        return "\x00" in value.get_secret_value()
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


class _NoNul(BaseModel):
    """Refuses NUL characters anywhere in a field: PostgreSQL cannot store them, and a value
    accepted here but refused by the database would be a webhook acknowledged and then lost."""

    @field_validator("*", mode="after")
    @classmethod
    def _reject_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


class UpstreamModel(_NoNul):
    """A third-party payload: unknown keys ignored, strings coerced where upstreams send them."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)


class OwnModel(_NoNul):
    """A message or body of our own: exact fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

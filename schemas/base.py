"""Base classes: lenient for what upstreams send, strict for what we publish."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Self

import orjson
from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas import limits

# Ours (the receiver's X-Request-ID or a generated one); stored as the outbox's correlation id.
RequestId = Annotated[str, StringConstraints(min_length=1, max_length=limits.REQUEST_ID)]


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


def nesting_depth(value: Any, *, stop_after: int) -> int:
    """How many arrays and objects nest in ``value`` (0 for a scalar), counted without
    recursion and no further than ``stop_after + 1``: a hostile value may nest a thousand."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, level = pending.pop()
        children: Iterable[Any]
        if isinstance(item, Mapping):
            children = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > stop_after:
            break
        pending.extend((child, level + 1) for child in children)
    return deepest


def check_extras(extras: Mapping[str, Any]) -> None:
    """Refuse extra fields that the queue message or the worker could not carry: nested
    deeper than ``limits.EXTRA_DEPTH``, over ``limits.EXTRAS_BYTES`` as JSON, or not JSON."""
    for key, value in extras.items():
        depth = nesting_depth(value, stop_after=limits.EXTRA_DEPTH)
        if depth > limits.EXTRA_DEPTH:
            raise PydanticCustomError(
                "extra_too_deep",
                "extra field {field} nests more than {limit} levels deep",
                {"field": repr(str(key)[:40]), "limit": limits.EXTRA_DEPTH},
            )
    try:
        size = len(orjson.dumps(extras))
    except orjson.JSONEncodeError as exc:
        raise PydanticCustomError(
            "extra_not_json", "extra fields cannot be encoded as JSON: {reason}", {"reason": exc}
        ) from None
    if size > limits.EXTRAS_BYTES:
        raise PydanticCustomError(
            "extras_too_large",
            "extra fields take {size} bytes as JSON, over the limit of {limit}",
            {"size": size, "limit": limits.EXTRAS_BYTES},
        )


@functools.cache
def _known_keys(model: type[BaseModel]) -> frozenset[str]:
    """Every input key a field of ``model`` reads: names and validation aliases."""
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(name)
        aliases = field.validation_alias
        choices = aliases.choices if isinstance(aliases, AliasChoices) else [aliases]
        for choice in choices:
            if isinstance(choice, str):
                keys.add(choice)
            elif isinstance(choice, AliasPath) and isinstance(choice.path[0], str):
                keys.add(choice.path[0])
    return frozenset(keys)


class UpstreamModel(_NoNul):
    """A third-party payload: unknown keys ignored, strings coerced where upstreams send them."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)


class WebhookModel(UpstreamModel):
    """A payload posted to one of our webhooks: unknown keys ignored, and bounded all the same
    (``check_extras``), so that whatever a sender adds, the receiver never accepts a body it
    could not handle.

    Only webhooks: an upstream's answer to a call of ours (MCN's, to a placed call) is read
    whatever it adds, since refusing it would lose a call already paid for.
    """

    @model_validator(mode="before")
    @classmethod
    def _bound_extras(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = _known_keys(cls)
            extras = {key: value for key, value in data.items() if key not in known}
            if extras:
                check_extras(extras)
        return data


class WebhookModelWithExtras(_NoNul):
    """A webhook payload whose unknown keys are kept, and so travel in our queue messages:
    bounded by ``check_extras`` on whichever side validates it, so that what the receiver
    accepts is what the worker can read."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True, populate_by_name=True)

    # After validation, not before: the extras are then at hand without converting the
    # whole input, which keeps the worker's decoding of a message as fast as it was.
    @model_validator(mode="after")
    def _bound_extras(self) -> Self:
        if self.__pydantic_extra__:
            check_extras(self.__pydantic_extra__)
        return self


class OwnModel(_NoNul):
    """A message or body of our own: exact fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

"""API keys: the scopes a key may hold, the body that creates one, and how keys are shown."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, StringConstraints

from schemas import limits
from schemas.base import OwnModel

Scope = Literal["calls", "bitrix24", "admin"]
"""``calls``: ``/api/v1/password-calls…``; ``bitrix24``: ``/api/v1/method-confirmations…``;
``admin``: everything."""

SCOPES: tuple[Scope, ...] = get_args(Scope)

# No control characters and not blank: a name is shown in listings and by the CLI.
KeyName = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=limits.API_KEY_NAME,
        pattern=r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$",
    ),
]
# A key's id is a UUID: unlike a counter, it tells nothing of how many keys exist.
KeyId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]


def _distinct(scopes: list[Scope]) -> list[Scope]:
    return list(dict.fromkeys(scopes))


class ApiKeyCreate(OwnModel):
    """``POST /api/v1/api-keys``: what the key is called and what it may do."""

    name: KeyName
    # A repeated scope is harmless and kept once; the cap only bounds the work.
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=16), AfterValidator(_distinct)]


class ApiKeyView(OwnModel):
    """A stored key as listed: never the key itself, which is kept only as a hash."""

    id: KeyId
    name: str
    scopes: list[Scope]
    created_at: dt.datetime


class ApiKeyCreated(ApiKeyView):
    """The ``201`` of a new key: the only answer that carries ``key``."""

    key: str = Field(description="The bearer key; shown this once, stored only as a hash.")

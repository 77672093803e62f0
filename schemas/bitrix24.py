"""Bitrix24: the ``ONAPPMETHODCONFIRM`` and ``ONAPPINSTALL`` events, their queue message and API.

Upstream events are parsed leniently: a form body is first nested by
``receiver.webhooks.php_form``, so a form and a JSON body validate alike; unknown keys
(``auth[expires]``, ``auth[scope]``, …) are ignored and deliberately not modelled, so that a
field we never read cannot fail an event that Bitrix24 will not resend; they are only bounded
in depth and size (``schemas.base.WebhookModel``). Raw access tokens stay
in ``SecretStr`` and never leave the receiver: the queue message, events and API views carry
only their SHA-256.

Method names are lower-cased everywhere because Bitrix24 matches them case-insensitively, and
an approval must correlate with the registration however either side spelled the method.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, StringConstraints
from pydantic_core import PydanticCustomError

from confirmhub.redact import sha256_hex
from schemas import limits
from schemas.base import OwnModel, RequestId, WebhookModel

BITRIX24_METHOD_CONFIRM_ROUTING_KEY = "bitrix24.onappmethodconfirm"
ONAPPMETHODCONFIRM = "ONAPPMETHODCONFIRM"
ONAPPINSTALL = "ONAPPINSTALL"

MethodConfirmationStatus = Literal["pending", "confirmed", "denied"]


def _blank_to_none(value: Any) -> Any:
    """An empty or blank string means absent: PHP forms cannot send a null."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _upper(value: Any) -> Any:
    """Event names compare case-insensitively."""
    return value.strip().upper() if isinstance(value, str) else value


def _zero_or_one(value: Any) -> bool:
    """``CONFIRMED`` is exactly ``"1"``/``1`` or ``"0"``/``0``; anything else is ambiguous."""
    # type() rather than isinstance(): True and 1.0 compare equal to 1 but are not what
    # Bitrix24 sends, and a guess either way could grant or deny the wrong call.
    if (type(value) is str and value.strip() == "1") or (type(value) is int and value == 1):
        return True
    if (type(value) is str and value.strip() == "0") or (type(value) is int and value == 0):
        return False
    raise PydanticCustomError("zero_or_one", "Input should be 1 or 0")


# Bitrix24 member ids are 32 hex digits; the pattern keeps them safe as URL path segments.
MemberId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=limits.MEMBER_ID,
        pattern=r"^[A-Za-z0-9_-]+$",
    ),
]
# No "/", "?", "#" or leading dot, so a method is also one safe URL path segment.
MethodName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=1,
        max_length=limits.METHOD,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
    ),
]
Token = Annotated[SecretStr, Field(min_length=1, max_length=limits.TOKEN)]
TokenSha256 = Annotated[
    str, StringConstraints(max_length=limits.TOKEN_SHA256, pattern=r"^[0-9a-f]{64}$")
]
Domain = Annotated[str, StringConstraints(strip_whitespace=True, max_length=limits.DOMAIN)]
LanguageId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=limits.LANGUAGE_ID)]
Endpoint = Annotated[str, StringConstraints(strip_whitespace=True, max_length=limits.ENDPOINT)]

OptionalDomain = Annotated[Domain | None, BeforeValidator(_blank_to_none)]
OptionalLanguageId = Annotated[LanguageId | None, BeforeValidator(_blank_to_none)]
OptionalEndpoint = Annotated[Endpoint | None, BeforeValidator(_blank_to_none)]
# Bounds sit inside the optional, never on it: a constraint applied to None is a TypeError.
NonNegativeInt64 = Annotated[int, Field(ge=0, le=limits.BIGINT_MAX)]
Timestamp = NonNegativeInt64
OptionalNonNegativeInt = Annotated[NonNegativeInt64 | None, BeforeValidator(_blank_to_none)]
InstallFlag = Annotated[str, StringConstraints(strip_whitespace=True, max_length=8)]
Confirmed = Annotated[bool, BeforeValidator(_zero_or_one)]


class Bitrix24Auth(WebhookModel):
    """``auth[...]`` of an event: the portal and the application token that vouches for it."""

    domain: OptionalDomain = None
    client_endpoint: OptionalEndpoint = None
    # Bitrix24's own documentation misspells the key; the wire spells it correctly.
    server_endpoint: OptionalEndpoint = Field(
        default=None, validation_alias=AliasChoices("server_endpoint", "server_andpoint")
    )
    member_id: MemberId
    application_token: Token


class MethodConfirmData(WebhookModel):
    """``data[...]`` of ``ONAPPMETHODCONFIRM``: which token and method, and the decision."""

    token: Token = Field(validation_alias="TOKEN")
    method: MethodName = Field(validation_alias="METHOD")
    confirmed: Confirmed = Field(validation_alias="CONFIRMED")
    language_id: OptionalLanguageId = Field(default=None, validation_alias="LANGUAGE_ID")


class MethodConfirmEvent(WebhookModel):
    """An administrator granted or denied a method for one access token."""

    event: Annotated[Literal["ONAPPMETHODCONFIRM"], BeforeValidator(_upper)]
    event_handler_id: OptionalNonNegativeInt = None
    data: MethodConfirmData
    ts: Timestamp
    auth: Bitrix24Auth


class InstallData(WebhookModel):
    """``data[...]`` of ``ONAPPINSTALL``; informational only."""

    version: OptionalNonNegativeInt = Field(default=None, validation_alias="VERSION")
    active: InstallFlag | None = Field(default=None, validation_alias="ACTIVE")
    installed: InstallFlag | None = Field(default=None, validation_alias="INSTALLED")
    language_id: OptionalLanguageId = Field(default=None, validation_alias="LANGUAGE_ID")


class InstallEvent(WebhookModel):
    """The app was installed on a portal; its ``auth`` carries the portal's application token."""

    event: Annotated[Literal["ONAPPINSTALL"], BeforeValidator(_upper)]
    event_handler_id: OptionalNonNegativeInt = None
    data: InstallData = Field(default_factory=InstallData)
    ts: Timestamp | None = None
    auth: Bitrix24Auth


class Bitrix24Envelope(WebhookModel):
    """Just enough of any event to authenticate it and pick its handler."""

    event: Annotated[
        str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=64)
    ]
    auth: Bitrix24Auth


class InboundMethodConfirm(OwnModel):
    """An accepted ``ONAPPMETHODCONFIRM``, as queued for a worker; the token only as SHA-256."""

    schema_version: Literal[1] = 1
    request_id: RequestId
    received_at: dt.datetime
    member_id: MemberId
    domain: Domain | None
    method: MethodName
    token_sha256: TokenSha256
    confirmed: bool
    language_id: LanguageId | None
    source_ts: Timestamp

    @classmethod
    def from_event(
        cls, event: MethodConfirmEvent, *, request_id: str, received_at: dt.datetime
    ) -> InboundMethodConfirm:
        """The queue message for ``event``, hashing its access token."""
        return cls(
            request_id=request_id,
            received_at=received_at,
            member_id=event.auth.member_id,
            domain=event.auth.domain,
            method=event.data.method,
            token_sha256=sha256_hex(event.data.token.get_secret_value()),
            confirmed=event.data.confirmed,
            language_id=event.data.language_id,
            source_ts=event.ts,
        )


class MethodConfirmationData(OwnModel):
    """``data`` of ``method_confirmation.confirmed`` and ``method_confirmation.denied``."""

    member_id: MemberId
    domain: Domain | None
    method: MethodName
    token_sha256: TokenSha256
    language_id: LanguageId | None
    source_ts: Timestamp

    @classmethod
    def from_inbound(cls, message: InboundMethodConfirm) -> MethodConfirmationData:
        """The event data for a queued confirmation."""
        return cls(
            member_id=message.member_id,
            domain=message.domain,
            method=message.method,
            token_sha256=message.token_sha256,
            language_id=message.language_id,
            source_ts=message.source_ts,
        )


def method_confirmation_event_type(*, confirmed: bool) -> str:
    """The routing key, and event ``type``, of a decision."""
    return "method_confirmation.confirmed" if confirmed else "method_confirmation.denied"


class MethodConfirmationRegistration(OwnModel):
    """``PUT /api/v1/method-confirmations``: a call with this token got METHOD_CONFIRM_WAITING."""

    member_id: MemberId
    token: Token
    method: MethodName


class MethodConfirmationView(OwnModel):
    """A method confirmation as ``GET /api/v1/method-confirmations/…`` shows it."""

    member_id: MemberId
    token_sha256: TokenSha256
    method: MethodName
    status: MethodConfirmationStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    decided_at: dt.datetime | None = None


class PortalTokenBody(OwnModel):
    """``PUT /api/v1/bitrix24/portals/{member_id}``: the portal's application token."""

    application_token: Token

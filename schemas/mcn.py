"""MCN password calls: the CDR webhook and the outbound password-call API."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from schemas import limits
from schemas.base import OwnModel, UpstreamModel, WebhookModelWithExtras

# `<call id>_<account id>`; split at the last underscore, so call ids may hold underscores.
VerificationCallUuid = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=limits.VERIFICATION_CALL_UUID,
        pattern=r"^[A-Za-z0-9._:-]+_[A-Za-z0-9.:-]+$",
    ),
]
PhoneNumber = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=limits.PHONE_NUMBER, pattern=r"^\+?[0-9]{7,15}$"
    ),
]
VerificationCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{4}$")]


def _reject_bool(value: object) -> object:
    # Lax int parsing would turn JSON true into status 1, a real cause ("unallocated").
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


# Q.850 cause values are 7 bits; the wider bound only keeps storage safe.
Q931Status = Annotated[int, BeforeValidator(_reject_bool), Field(ge=0, le=limits.Q931_STATUS_MAX)]

_UUID_ALIASES = AliasChoices("verification_call_uuid", "verification_uuid")


def split_verification_call_uuid(value: str) -> tuple[str, str]:
    """Split ``<call id>_<account id>`` at the last underscore."""
    call_id, _, account_id = value.rpartition("_")
    return call_id, account_id


class PasswordCallCdr(WebhookModelWithExtras):
    """One password-call CDR as MCN posts it; extra fields are kept, numbers may be strings."""

    verification_call_uuid: VerificationCallUuid = Field(validation_alias=_UUID_ALIASES)
    q931_status: Q931Status
    final_status: Annotated[str, StringConstraints(max_length=limits.FINAL_STATUS)] | None = None


Locale = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=limits.LOCALE,
        pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?$",
    ),
]
MCN_REQUEST_FIELDS = frozenset({"phone_number", "verification_code", "is_with_redirect"})


class PasswordCallRequest(OwnModel):
    """Our API body for placing a call: MCN's own fields, plus the locale of an SMS fallback."""

    phone_number: PhoneNumber
    verification_code: VerificationCode | None = None
    is_with_redirect: bool = False
    locale: Locale | None = None


class CodeCheckRequest(OwnModel):
    """``POST /api/v1/password-calls/{uuid}/check``: the code the user entered."""

    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]


def _or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # A field MCN sent in a shape we do not know is dropped, never the answer: the answer
    # may describe a call that has been placed, and paid for.
    try:
        return handler(value)
    except ValidationError:
        return None


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _code_from_number(value: object) -> object:
    # A code sent as a JSON number has lost its leading zeros.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10_000:
        return f"{value:04d}"
    return value


_LenientBool = Annotated[bool | None, BeforeValidator(_strip), WrapValidator(_or_none)]


class McnPasswordCallResponse(UpstreamModel):
    """MCN's answer to ``POST /api/protected/api/auth/passwordcall``, read leniently: booleans
    may be strings (``"true"``), the code a number, the id under either name; a field in an
    unknown shape reads as absent."""

    ok: _LenientBool = None
    # caller_number is not kept: its last four digits are the verification code.
    verification_code: Annotated[
        VerificationCode | None, BeforeValidator(_code_from_number), WrapValidator(_or_none)
    ] = None
    verification_call_uuid: Annotated[VerificationCallUuid | None, WrapValidator(_or_none)] = Field(
        default=None, validation_alias=_UUID_ALIASES
    )
    is_redirect: _LenientBool = None

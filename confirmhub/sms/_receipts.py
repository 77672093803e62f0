"""What every receipt reader shares: a receipt's fields, validation that names fields but never
echoes values, and the short tokens a report may carry."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from confirmhub.sms.base import ReceivedReceipt
from confirmhub.sms.errors import InvalidReceipt
from schemas import limits

ModelT = TypeVar("ModelT", bound=BaseModel)

# What the receiver answers for any signature that does not verify, whatever the reason
# (wrong, no such provider, no secret to check it with): the answer tells nothing more.
NOT_VERIFIED = "the receipt's signature does not verify"
# A status word or an error code as a report carries it; anything else is provider text.
_TOKEN = re.compile(
    rf"[A-Za-z0-9_.:-]{{1,{min(limits.SMS_DELIVERY_STATUS, limits.SMS_DELIVERY_ERROR_CODE)}}}"
)
# Our references are attempt ids (UUIDs).
_REFERENCE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def fields_of(receipt: ReceivedReceipt) -> dict[str, Any]:
    """The receipt's fields by name: a JSON object as it is, or the form's (first value wins)."""
    if receipt.document is not None:
        if not isinstance(receipt.document, dict):
            raise InvalidReceipt("a receipt must be a JSON object or a form")
        return dict(receipt.document)
    values: dict[str, Any] = {}
    for name, value in receipt.fields:
        values.setdefault(name, value)
    return values


def parse(model: type[ModelT], values: dict[str, Any], *, provider: str) -> ModelT:
    """``values`` as ``model``; InvalidReceipt naming the fields at fault."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        where = sorted({".".join(str(part) for part in error["loc"]) for error in exc.errors()})
        message = f"not a {provider} receipt: invalid or missing {', '.join(where)}"
        raise InvalidReceipt(message) from None


def token(value: str | None) -> str | None:
    """A status word or error code if it is a short token, else None."""
    return value if value is not None and _TOKEN.fullmatch(value) else None


def reference(value: str | None) -> str | None:
    """Our attempt reference, if ``value`` is one."""
    return value if value is not None and _REFERENCE.fullmatch(value) else None

"""SMS delivery receipts as each provider posts them, and SMSAero's status answer.

Read leniently: unknown fields are ignored, numbers may come as strings. Only what a
receipt needs is declared; whatever else a provider sends (the number, the price) is
neither read nor kept.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, BeforeValidator, Field, StringConstraints

from schemas import limits
from schemas.base import UpstreamModel

# A provider's message id: printable ASCII, as wide as sms_attempts.provider_message_id.
MessageId = Annotated[
    str,
    StringConstraints(
        max_length=limits.SMS_MESSAGE_ID, pattern=rf"^[\x21-\x7e]{{1,{limits.SMS_MESSAGE_ID}}}$"
    ),
]
# A provider's status word or error code, as we store them.
Token = Annotated[str, StringConstraints(max_length=limits.SMS_DELIVERY_STATUS)]
ErrorCode = Annotated[str, StringConstraints(max_length=limits.SMS_DELIVERY_ERROR_CODE)]
# Read but never stored: a reference (ours, or another sender's), a signature, a timestamp.
Unstored = Annotated[str, StringConstraints(max_length=255)]


def _text(value: object) -> object:
    # SMSAero's ids are integers; JSON receipts may send numbers where forms send strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Lenient = BeforeValidator(_text)


class TwilioStatusCallback(UpstreamModel):
    """Twilio's ``StatusCallback`` for a Message (form fields; ``Sms…`` are the legacy names)."""

    message_sid: MessageId = Field(validation_alias=AliasChoices("MessageSid", "SmsSid"))
    message_status: Token = Field(validation_alias=AliasChoices("MessageStatus", "SmsStatus"))
    error_code: Annotated[Token | None, Lenient] = Field(default=None, validation_alias="ErrorCode")
    account_sid: Unstored | None = Field(default=None, validation_alias="AccountSid")


class VonageDeliveryReceipt(UpstreamModel):
    """Vonage's SMS delivery receipt (DLR), posted as a form or as JSON; signed with ``sig``."""

    message_id: Annotated[MessageId, Lenient] = Field(validation_alias="messageId")
    status: Token
    err_code: Annotated[ErrorCode | None, Lenient] = Field(
        default=None, validation_alias="err-code"
    )
    client_ref: Unstored | None = Field(default=None, validation_alias="client-ref")
    sig: Unstored | None = None
    timestamp: Annotated[Unstored | None, Lenient] = None


class SmsAeroCallback(UpstreamModel):
    """SMSAero's status callback: unsigned, so only its message ``id`` is read (a hint)."""

    id: Annotated[MessageId, Lenient]


class SmsAeroStatus(UpstreamModel):
    """``data`` of SMSAero's ``/v2/sms/status`` answer: the message's status as SMSAero has it."""

    id: Annotated[MessageId, Lenient]
    status: Annotated[int, Field(ge=0, le=1000)]
    extend_status: Token | None = Field(default=None, validation_alias="extendStatus")

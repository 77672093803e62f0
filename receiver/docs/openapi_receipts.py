"""The OpenAPI route table of the SMS delivery receipt webhooks, one per provider type."""

from __future__ import annotations

from receiver.docs.openapi_table import (
    BODY_ERRORS,
    PUBLIC,
    TWILIO_RECEIPT,
    Body,
    Operation,
    Reply,
    path_param,
    reads,
)
from schemas.sms_receipts import SmsAeroCallback, TwilioStatusCallback, VonageDeliveryReceipt

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

_PROVIDER_ID = path_param(
    "provider_id",
    {"type": "integer", "minimum": 1},
    "The id of the configured provider the SMS went through (in the URL each send gives).",
)
_RECORDED = Reply("Recorded, or a repeat that changes nothing.")
_RECEIPTS = (
    "Asked for by each send when `CONFIRMHUB_PUBLIC_URL` is set. Receipts repeat and arrive "
    "out of order: a final delivery (`password_call.sms_delivered` / `.sms_undelivered`) "
    "is recorded and published once, and never regresses. The first undelivered SMS of a "
    "call fails over to the next enabled provider once. An unknown provider or message gets "
    "a `4xx` (not retried) that does not say which was unknown."
)

ROUTES = (
    Operation(
        "post",
        "/webhooks/sms/twilio/{provider_id}",
        "receive_twilio_receipt",
        "Receive a Twilio SMS status callback",
        "webhooks",
        {204: _RECORDED},
        errors=(*BODY_ERRORS, 401, 404, 503),
        access=TWILIO_RECEIPT,
        params=(_PROVIDER_ID,),
        body=Body({FORM: reads(TwilioStatusCallback)}, "Twilio's `StatusCallback` form."),
        description=f"{_RECEIPTS} `401` when `X-Twilio-Signature` is missing or does not "
        "verify over the public URL (also when `CONFIRMHUB_PUBLIC_URL` is unset, or the "
        "provider does not exist).",
    ),
    Operation(
        "post",
        "/webhooks/sms/vonage/{provider_id}",
        "receive_vonage_receipt",
        "Receive a Vonage SMS delivery receipt",
        "webhooks",
        {204: _RECORDED},
        errors=(*BODY_ERRORS, 401, 404, 503),
        access=PUBLIC,
        params=(_PROVIDER_ID,),
        body=Body(
            {JSON: reads(VonageDeliveryReceipt), FORM: reads(VonageDeliveryReceipt)},
            "A delivery receipt (DLR) as Vonage posts it, as a form or as JSON.",
        ),
        description=f"{_RECEIPTS} Authenticated by its `sig` field, which Vonage's signing "
        "scheme computes with the provider's `signature_secret` by its `signature_method` "
        "(`md5hash` by default; `md5`, `sha1`, `sha256`, `sha512` HMACs): `401` when it is "
        "missing or does not verify (also when the provider has no `signature_secret`, or "
        "does not exist).",
    ),
    Operation(
        "post",
        "/webhooks/sms/smsaero/{provider_id}",
        "receive_smsaero_receipt",
        "Receive an SMSAero status callback",
        "webhooks",
        {200: Reply("Recorded, or a repeat.", {"type": "string"}, media_type="text/plain")},
        errors=(*BODY_ERRORS, 404, 502, 503),
        access=PUBLIC,
        params=(_PROVIDER_ID,),
        body=Body(
            {JSON: reads(SmsAeroCallback), FORM: reads(SmsAeroCallback)},
            "SMSAero's callback; only the message `id` is read.",
        ),
        description=f"{_RECEIPTS} SMSAero does not sign its callbacks, so one is only a hint: "
        "the message's status is asked of SMSAero's status API with the provider's "
        "credentials before it is recorded; `502` when that API cannot answer now.",
    ),
)

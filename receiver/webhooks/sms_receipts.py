"""``POST /webhooks/sms/{twilio|vonage|smsaero}/{provider_id}``: SMS delivery receipts.

Each answer tells the provider what to do with its receipt (Vonage retries only 429 and
5xx; SMSAero waits for a 200; Twilio retries nothing unless told to):

- ``204`` (Twilio, Vonage) or ``200`` (SMSAero): recorded, or a repeat that changes nothing;
- ``401``: the signature is missing or does not verify. A provider id that does not exist,
  or one with nothing to verify a signature with, gets the same answer, so it tells nobody
  which providers exist; nothing changes;
- ``404``: authentic (for SMSAero: a hint) but no SMS sent through this provider matches
  it; an SMSAero provider id that does not exist gets the same answer. Not retried;
- ``400``/``413``/``415``/``422``: the body cannot be read as a receipt;
- ``502``: SMSAero's status API could not confirm the hint now; ``503``: our database or
  broker failed. Both are retried by the provider, and nothing was recorded.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from confirmhub.sms import ReceivedReceipt
from receiver.body import BodyKind, body_kind, parse_form, parse_json, read_bounded
from receiver.errors import ReceiptNotAuthentic
from receiver.keys import RECEIPT_DESK, SETTINGS
from receiver.middleware import REQUEST_ID
from receiver.text import is_text

TWILIO_SIGNATURE = "X-Twilio-Signature"


async def receive_twilio_receipt(request: web.Request) -> web.Response:
    """Record a Twilio ``StatusCallback``; 204."""
    return await _receive(request, "twilio", answer=204)


async def receive_vonage_receipt(request: web.Request) -> web.Response:
    """Record a Vonage delivery receipt; 204."""
    return await _receive(request, "vonage", answer=204)


async def receive_smsaero_receipt(request: web.Request) -> web.Response:
    """Record an SMSAero status callback once its status API confirms it; 200."""
    return await _receive(request, "smsaero", answer=200)


async def _receive(request: web.Request, provider_type: str, *, answer: int) -> web.Response:
    """Bounded read, parse, then authenticate, match, confirm and record (``ReceiptDesk``)."""
    settings = request.app[SETTINGS]
    # The route admits digits only.
    provider_id = int(request.match_info["provider_id"])
    kind = body_kind(request)
    raw = await read_bounded(request, limit=settings.max_body_bytes)
    form = kind is BodyKind.FORM
    receipt = ReceivedReceipt(
        # The URL the provider was given, not the one this request arrived at behind a proxy.
        url=None if settings.public_url is None else settings.public_url + request.raw_path,
        fields=parse_form(raw, charset=request.charset) if form else (),
        document=None if form else parse_json(raw),
        signature=_signature(request),
    )
    await request.app[RECEIPT_DESK].record(
        provider_type, provider_id, receipt, request_id=request[REQUEST_ID]
    )
    if answer == 204:
        return web.Response(status=204)
    return web.Response(status=answer, headers={hdrs.CONTENT_TYPE: "text/plain"}, text="OK")


def _signature(request: web.Request) -> str | None:
    """The Twilio signature header; Unauthorized if its bytes are not UTF-8 text."""
    signature = request.headers.get(TWILIO_SIGNATURE)
    if signature is not None and not is_text(signature):
        raise ReceiptNotAuthentic("the receipt's signature is not valid UTF-8 text")
    return signature

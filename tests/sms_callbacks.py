"""How each provider posts delivery receipts back, as the providers document them: the bodies
and the signatures. The fakes in tests/sms_fakes.py post these.

The signers are written here from the providers' documentation, apart from the service's
own (confirmhub/sms), which tests/sms/test_receipt_signatures.py holds to the providers'
published vectors: two readings of each scheme that must agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp


def twilio_signature(auth_token: str, url: str, fields: list[tuple[str, str]]) -> str:
    """``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL, then every POST field sorted by
    name (and value), each name immediately followed by its value."""
    payload = url
    for name, value in sorted(fields):
        payload += name + value
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def vonage_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    """Vonage's ``sig``: ``&key=value`` for every parameter sorted by key, "&" and "=" in
    values as "_"; then MD5 of that and the secret (``md5hash``), or an HMAC keyed with the
    secret in upper-case hex, as Vonage's signed webhooks carry it."""
    text = "".join(
        "&" + key + "=" + params[key].replace("&", "_").replace("=", "_") for key in sorted(params)
    )
    if method == "md5hash":
        return hashlib.md5((text + secret).encode(), usedforsecurity=False).hexdigest()
    return hmac.new(secret.encode(), text.encode(), method).hexdigest().upper()


def twilio_status_callback(
    *, sid: str, account_sid: str, to: str, sender: str, status: str, error_code: str | None
) -> list[tuple[str, str]]:
    """The form fields of Twilio's StatusCallback for a Message."""
    fields = [
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", to),
        ("MessageSid", sid),
        ("AccountSid", account_sid),
        ("From", sender),
        ("ApiVersion", "2010-04-01"),
    ]
    if error_code is not None:
        fields.append(("ErrorCode", error_code))
    return fields


def vonage_dlr(
    *,
    message_id: str,
    to: str,
    sender: str,
    api_key: str,
    status: str,
    err_code: str,
    client_ref: str | None,
) -> dict[str, str]:
    """The fields of a Vonage SMS delivery receipt, unsigned."""
    dlr = {
        "msisdn": to,
        "to": sender,
        "network-code": "25001",
        "messageId": message_id,
        "price": "0.03330000",
        "status": status,
        "scts": time.strftime("%y%m%d%H%M", time.gmtime()),
        "err-code": err_code,
        "api-key": api_key,
        "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime()),
        "timestamp": str(int(time.time())),
        "nonce": str(uuid.uuid4()),
    }
    if client_ref is not None:
        dlr["client-ref"] = client_ref
    return dlr


async def post(
    url: str,
    *,
    form: list[tuple[str, str]] | None = None,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
) -> int:
    """POST a receipt the way providers do (a fresh connection); the status it got."""
    async with aiohttp.ClientSession() as session:
        data = None if form is None else urlencode(form)
        all_headers = dict(headers or {})
        if form is not None:
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        async with session.post(url, data=data, json=json, headers=all_headers) as response:
            await response.read()
            return response.status

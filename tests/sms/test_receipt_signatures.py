"""Receipt signatures against the providers' own published vectors, and how readers use them.

The vectors come from the providers' SDK test suites (twilio-python's request validator,
Vonage's Python SDK, old and new), so the schemes are checked against the providers' word,
not against a second copy of our own reading of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import pytest
from aiohttp import ClientSession
from pydantic import SecretStr

from confirmhub.sms import (
    Delivery,
    InvalidReceipt,
    ReceiptNotAuthentic,
    ReceiptReader,
    ReceivedReceipt,
    build_receipt_reader,
)
from confirmhub.sms.twilio import twilio_signature
from confirmhub.sms.vonage import vonage_signature

TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]


def test_twilio_signature_matches_twilios_vectors() -> None:
    token = SecretStr("12345")
    assert twilio_signature(token, TWILIO_URL, TWILIO_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert twilio_signature(token, TWILIO_URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("params", "secret", "method", "expected"),
    [
        # vonage-python-sdk 3.x, md5hash (Vonage's default method)
        (
            {"a": "1", "b": "2", "timestamp": "1461605396"},
            "secret",
            "md5hash",
            "6af838ef94998832dbfc29020b564830",
        ),
        # vonage-http-client (the 4.x SDK): HMAC-MD5, HMAC-SHA256, "&" and "=" in values
        (
            {"param1": "value1", "param2": "value2", "timestamp": "1234567890"},
            "signature_secret",
            "md5",
            "724c2bf6ca423c36e20631b11d1c5753",
        ),
        (
            {"param1": "value1", "param2": "value2", "timestamp": "1234567890"},
            "signature_secret",
            "sha256",
            "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287",
        ),
        (
            {"param1": "value&1", "param2": "value=2", "timestamp": "1234567890"},
            "signature_secret",
            "md5",
            "2bbf0abafb2c55e5af6231513896a2ac",
        ),
    ],
)
def test_vonage_signature_matches_vonages_vectors(
    params: dict[str, str], secret: str, method: str, expected: str
) -> None:
    assert vonage_signature(SecretStr(secret), method, params) == expected


def reader(provider_type: str, options: Mapping[str, object]) -> ReceiptReader:
    """A reader built as the receiver builds one (signed types never use the session)."""
    return build_receipt_reader(provider_type, options, cast(ClientSession, None), timeout=1)


TWILIO_OPTIONS = {"api_sid": "AC1", "api_secret": "12345"}
CALLBACK = [
    ("AccountSid", "AC1"),
    ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
    ("MessageStatus", "undelivered"),
    ("ErrorCode", "30003"),
]


@pytest.mark.parametrize(
    "signed_as",
    [
        "https://hub.example.com/webhooks/sms/twilio/1?ref=9c1e6c36-3f49-4f0b-8b43-5a1f2f0c9d11",
        "https://hub.example.com:443/webhooks/sms/twilio/1?ref=9c1e6c36-3f49-4f0b-8b43-5a1f2f0c9d11",
    ],
)
def test_a_twilio_callback_signed_over_the_given_url_is_read(signed_as: str) -> None:
    url = "https://hub.example.com/webhooks/sms/twilio/1?ref=9c1e6c36-3f49-4f0b-8b43-5a1f2f0c9d11"
    signature = twilio_signature(SecretStr("12345"), signed_as, CALLBACK)
    read = reader("Twilio", TWILIO_OPTIONS)
    report = read.read(ReceivedReceipt(url=url, fields=CALLBACK, signature=signature))
    assert report.provider_message_id == "SM0123456789abcdef0123456789abcdef"
    assert (report.delivery, report.status, report.error_code) == (
        Delivery.UNDELIVERED,
        "undelivered",
        "30003",
    )
    assert report.reference == "9c1e6c36-3f49-4f0b-8b43-5a1f2f0c9d11"


@pytest.mark.parametrize(
    ("url", "fields", "signature"),
    [
        ("https://hub.example.com/webhooks/sms/twilio/1", CALLBACK, None),
        ("https://hub.example.com/webhooks/sms/twilio/1", CALLBACK, "bm90IGl0"),
        # Signed for another URL (the one the request arrived at, behind a proxy).
        ("https://hub.example.com/webhooks/sms/twilio/1", CALLBACK, "proxy"),
        # A field changed after signing.
        (
            "https://hub.example.com/webhooks/sms/twilio/1",
            [*CALLBACK[:2], ("MessageStatus", "delivered")],
            "original",
        ),
        # CONFIRMHUB_PUBLIC_URL unset: the signed URL is unknown.
        (None, CALLBACK, "original"),
    ],
)
def test_a_twilio_callback_that_does_not_verify_is_refused(
    url: str | None, fields: list[tuple[str, str]], signature: str | None
) -> None:
    public = "https://hub.example.com/webhooks/sms/twilio/1"
    if signature == "proxy":
        signature = twilio_signature(
            SecretStr("12345"), "http://10.0.0.7:8080/webhooks/sms/twilio/1", CALLBACK
        )
    elif signature == "original":
        signature = twilio_signature(SecretStr("12345"), public, CALLBACK)
    read = reader("Twilio", TWILIO_OPTIONS)
    with pytest.raises(ReceiptNotAuthentic):
        read.read(ReceivedReceipt(url=url, fields=fields, signature=signature))


VONAGE_DLR = {
    "msisdn": "447700900000",
    "to": "ConfirmHub",
    "network-code": "23410",
    "messageId": "0A0000001234567B",
    "price": "0.03330000",
    "status": "delivered",
    "scts": "2001011400",
    "err-code": "0",
    "api-key": "a1b2c3d4",
    "client-ref": "9c1e6c36-3f49-4f0b-8b43-5a1f2f0c9d11",
    "message-timestamp": "2020-01-01 12:00:00 +0000",
    "timestamp": "1582650446",
    "nonce": "ec11dd3e-1e7f-4db5-9467-82b02cd223b9",
}


@pytest.mark.parametrize("method", ["md5hash", "md5", "sha1", "sha256", "sha512"])
@pytest.mark.parametrize("as_json", [True, False])
def test_a_vonage_dlr_signed_by_the_configured_method_is_read(method: str, as_json: bool) -> None:
    secret = SecretStr("vonage-signing-secret")
    sig = vonage_signature(secret, method, VONAGE_DLR)
    # HMAC signatures arrive in upper-case hex.
    signed = {**VONAGE_DLR, "sig": sig if method == "md5hash" else sig.upper()}
    read = reader("Vonage", {"signature_secret": secret, "signature_method": method})
    receipt = (
        ReceivedReceipt(url=None, document=signed)
        if as_json
        else ReceivedReceipt(url=None, fields=list(signed.items()))
    )
    report = read.read(receipt)
    assert (report.provider_message_id, report.delivery, report.status) == (
        "0A0000001234567B",
        Delivery.DELIVERED,
        "delivered",
    )
    assert report.error_code is None
    assert report.reference == "9c1e6c36-3f49-4f0b-8b43-5a1f2f0c9d11"


@pytest.mark.parametrize(
    ("options", "dlr"),
    [
        # Unsigned.
        ({"signature_secret": "s3cret"}, VONAGE_DLR),
        # Signed with another secret.
        (
            {"signature_secret": "s3cret"},
            {**VONAGE_DLR, "sig": vonage_signature(SecretStr("other"), "md5hash", VONAGE_DLR)},
        ),
        # Signed by another method than the configured one.
        (
            {"signature_secret": "s3cret", "signature_method": "sha256"},
            {**VONAGE_DLR, "sig": vonage_signature(SecretStr("s3cret"), "md5hash", VONAGE_DLR)},
        ),
        # No secret configured: nothing can verify.
        ({}, {**VONAGE_DLR, "sig": vonage_signature(SecretStr("s3cret"), "md5hash", VONAGE_DLR)}),
        # A field changed after signing.
        (
            {"signature_secret": "s3cret"},
            {
                **VONAGE_DLR,
                "status": "failed",
                "sig": vonage_signature(SecretStr("s3cret"), "md5hash", VONAGE_DLR),
            },
        ),
    ],
)
def test_a_vonage_dlr_that_does_not_verify_is_refused(
    options: dict[str, str], dlr: dict[str, str]
) -> None:
    read = reader("Vonage", options)
    with pytest.raises(ReceiptNotAuthentic):
        read.read(ReceivedReceipt(url=None, document=dlr))


def test_an_authentic_receipt_without_a_message_id_is_invalid() -> None:
    dlr = {key: value for key, value in VONAGE_DLR.items() if key != "messageId"}
    signed = {**dlr, "sig": vonage_signature(SecretStr("s3cret"), "md5hash", dlr)}
    read = reader("Vonage", {"signature_secret": "s3cret"})
    with pytest.raises(InvalidReceipt) as caught:
        read.read(ReceivedReceipt(url=None, document=signed))
    assert "messageId" in caught.value.reason

"""Each SMS adapter speaks its provider's wire format and maps its error codes."""

from __future__ import annotations

import aiohttp
import pytest

from confirmhub.sms import PermanentSmsError, RetryableSmsError, SmsError, SmsMessage
from tests.sms_fakes import (
    SMSAERO_API_KEY,
    SMSAERO_EMAIL,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    VONAGE_API_KEY,
    VONAGE_API_SECRET,
    FakeSmsAero,
    FakeTwilio,
    FakeVonage,
    smsaero_failure,
    twilio_error,
)
from tests.sms_support import CODE, MESSAGE, TO, assert_safe, sender_for


@pytest.mark.parametrize(
    ("sender", "sent_as"),
    [("15005550006", "+15005550006"), ("+15005550006", "+15005550006"), ("ConfirmHub",) * 2],
)
async def test_twilio_posts_a_form_with_basic_auth(
    twilio: FakeTwilio, http_session: aiohttp.ClientSession, sender: str, sent_as: str
) -> None:
    await sender_for(twilio, http_session, {"from": sender}).send(MESSAGE)
    [request] = twilio.requests
    assert request.auth == (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.fields == {"To": TO, "From": sent_as, "Body": MESSAGE.body}
    assert request.query == {}


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (401, 20003, False),
        (403, 20003, False),
        (400, 21211, False),
        (400, 21408, False),
        (400, 21610, False),
        (400, 21614, False),
        (404, 20404, False),
        (429, 20429, True),
        (500, 20500, True),
        (503, 20503, True),
    ],
)
async def test_twilio_error_codes(
    twilio: FakeTwilio,
    http_session: aiohttp.ClientSession,
    status: int,
    code: int,
    retryable: bool,
) -> None:
    twilio.fail_next(1, *twilio_error(status, code, f"The 'To' number {TO} is bad: {CODE}"))
    with pytest.raises(SmsError) as caught:
        await sender_for(twilio, http_session).send(MESSAGE)
    assert isinstance(caught.value, RetryableSmsError if retryable else PermanentSmsError)
    assert caught.value.retryable is retryable
    assert f"code {code}" in caught.value.reason
    assert_safe(caught.value)


@pytest.mark.parametrize(
    ("to", "code"), [("+15005550001", 21211), ("+15005550004", 21610), ("+15005550009", 21614)]
)
async def test_twilio_refuses_its_magic_test_numbers_permanently(
    twilio: FakeTwilio, http_session: aiohttp.ClientSession, to: str, code: int
) -> None:
    with pytest.raises(PermanentSmsError) as caught:
        await sender_for(twilio, http_session).send(SmsMessage(to=to, body=MESSAGE.body))
    assert f"code {code}" in caught.value.reason
    assert_safe(caught.value, to, to[1:])


@pytest.mark.parametrize(("body", "kind"), [(MESSAGE.body, "unicode"), ("Your code: 4821", "text")])
async def test_vonage_posts_credentials_in_the_body_never_the_url(
    vonage: FakeVonage, http_session: aiohttp.ClientSession, body: str, kind: str
) -> None:
    await sender_for(vonage, http_session).send(SmsMessage(to=TO, body=body))
    [request] = vonage.requests
    assert request.query == {}
    assert request.auth is None
    assert request.fields == {
        "api_key": VONAGE_API_KEY,
        "api_secret": VONAGE_API_SECRET,
        "from": "ConfirmHub",
        "to": TO[1:],
        "text": body,
        "type": kind,
    }


async def test_vonage_sends_a_numeric_sender_as_bare_digits(
    vonage: FakeVonage, http_session: aiohttp.ClientSession
) -> None:
    await sender_for(vonage, http_session, {"from": "+447700900001"}).send(MESSAGE)
    assert vonage.requests[0].fields["from"] == "447700900001"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [("1", True), ("5", True)]
    + [(status, False) for status in ("2", "3", "4", "6", "7", "8", "9", "15", "29", "99")],
)
async def test_vonage_message_statuses(
    vonage: FakeVonage, http_session: aiohttp.ClientSession, status: str, retryable: bool
) -> None:
    vonage.reject_next(1, status, f"Refused {TO}: {CODE}")
    with pytest.raises(SmsError) as caught:
        await sender_for(vonage, http_session).send(MESSAGE)
    assert caught.value.retryable is retryable
    assert f"status {status}" in caught.value.reason
    assert_safe(caught.value)


async def test_vonage_refuses_a_destination_off_the_trial_whitelist(
    vonage: FakeVonage, http_session: aiohttp.ClientSession
) -> None:
    vonage.whitelist = {"447700900000"}
    with pytest.raises(PermanentSmsError, match="status 29"):
        await sender_for(vonage, http_session).send(MESSAGE)


async def test_vonage_long_message_is_receipted_by_its_first_part(
    vonage: FakeVonage, http_session: aiohttp.ClientSession
) -> None:
    receipt = await sender_for(vonage, http_session).send(SmsMessage(TO, MESSAGE.body * 10))
    assert len(vonage.sent_ids) > 1
    assert receipt.provider_message_id == vonage.sent_ids[0]


async def test_vonage_partly_sent_message_is_permanent_even_when_throttled(
    vonage: FakeVonage, http_session: aiohttp.ClientSession
) -> None:
    parts = [{"status": "0", "message-id": "0A0000001"}, {"status": "1", "error-text": "Throttled"}]
    vonage.fail_next(1, 200, {"message-count": "2", "messages": parts})
    with pytest.raises(PermanentSmsError, match="only some parts"):
        await sender_for(vonage, http_session).send(MESSAGE)


@pytest.mark.parametrize(("sign", "sent_as"), [(None, "SMS Aero"), ("ConfirmHub", "ConfirmHub")])
async def test_smsaero_posts_json_with_basic_auth(
    smsaero: FakeSmsAero, http_session: aiohttp.ClientSession, sign: str | None, sent_as: str
) -> None:
    receipt = await sender_for(smsaero, http_session, {"sign": sign}).send(MESSAGE)
    [request] = smsaero.requests
    assert request.auth == (SMSAERO_EMAIL, SMSAERO_API_KEY)
    assert request.content_type == "application/json"
    assert request.fields == {"number": TO[1:], "text": MESSAGE.body, "sign": sent_as}
    assert receipt.provider_message_id == smsaero.sent_ids[0]


@pytest.mark.parametrize(
    ("status", "retryable"), [(200, False), (400, False), (401, False), (429, True), (500, True)]
)
async def test_smsaero_refusals(
    smsaero: FakeSmsAero, http_session: aiohttp.ClientSession, status: int, retryable: bool
) -> None:
    smsaero.fail_next(1, status, smsaero_failure(f"Number {TO} rejected: {CODE}"))
    with pytest.raises(SmsError) as caught:
        await sender_for(smsaero, http_session).send(MESSAGE)
    assert caught.value.retryable is retryable
    assert_safe(caught.value)

"""What every SMS adapter does, against its fake provider over real HTTP; and ``build_sender``."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from pytest_aiohttp import AiohttpServer

from confirmhub.sms import (
    PermanentSmsError,
    RetryableSmsError,
    SmsError,
    SmsMessage,
    UnconfirmedSmsError,
    build_sender,
)
from tests.sms_fakes import (
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    FakeProvider,
    FakeSmsAero,
    FakeTwilio,
    FakeVonage,
)
from tests.sms_support import MESSAGE, TO, assert_safe, closed_port_url, sender_for, serve


@pytest.fixture(params=[FakeTwilio, FakeVonage, FakeSmsAero], ids=lambda kind: kind.provider_type)
async def fake(request: pytest.FixtureRequest, aiohttp_server: AiohttpServer) -> FakeProvider:
    """Each provider's fake in turn, served on loopback."""
    kind: type[FakeProvider] = request.param
    return await serve(aiohttp_server, kind())


@pytest.mark.parametrize("to", [TO, TO[1:]])
async def test_send_returns_the_providers_message_id(
    fake: FakeProvider, http_session: aiohttp.ClientSession, to: str
) -> None:
    sender = sender_for(fake, http_session)
    receipt = await sender.send(SmsMessage(to=to, body=MESSAGE.body))
    assert sender.provider == fake.provider_type
    assert fake.sent_ids
    assert receipt.provider_message_id == fake.sent_ids[0]
    assert len(fake.requests) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_throttling_and_server_errors_are_retryable(
    fake: FakeProvider, http_session: aiohttp.ClientSession, status: int
) -> None:
    fake.fail_next(1, status, "<html><body>Service Unavailable</body></html>")
    with pytest.raises(RetryableSmsError) as caught:
        await sender_for(fake, http_session).send(MESSAGE)
    assert caught.value.retryable
    assert str(status) in caught.value.reason
    assert_safe(caught.value)


async def test_a_retry_after_scripted_failures_succeeds(
    fake: FakeProvider, http_session: aiohttp.ClientSession
) -> None:
    sender = sender_for(fake, http_session)
    fake.fail_next(2, 503, "busy")
    for _ in range(2):
        with pytest.raises(RetryableSmsError):
            await sender.send(MESSAGE)
    receipt = await sender.send(MESSAGE)
    assert receipt.provider_message_id == fake.sent_ids[0]
    assert len(fake.requests) == 3


@pytest.mark.parametrize("status", [400, 403, 404, 405])
async def test_other_client_errors_are_permanent(
    fake: FakeProvider, http_session: aiohttp.ClientSession, status: int
) -> None:
    fake.fail_next(1, status, "nope")
    with pytest.raises(PermanentSmsError) as caught:
        await sender_for(fake, http_session).send(MESSAGE)
    assert not caught.value.retryable
    assert_safe(caught.value)


@pytest.mark.parametrize("body", ["<html>ok</html>", {}, [], {"messages": [], "data": {}}])
@pytest.mark.parametrize("status", [200, 201])
async def test_an_unreadable_acceptance_is_permanent_so_no_second_sms_goes_out(
    fake: FakeProvider, http_session: aiohttp.ClientSession, status: int, body: Any
) -> None:
    fake.fail_next(1, status, body)
    with pytest.raises(UnconfirmedSmsError, match="readable message id") as caught:
        await sender_for(fake, http_session).send(MESSAGE)
    assert_safe(caught.value)


def acceptance(fake: FakeProvider, message_id: Any) -> dict[str, Any]:
    """The provider's success answer, carrying ``message_id``."""
    if isinstance(fake, FakeTwilio):
        return {"sid": message_id, "status": "queued"}
    if isinstance(fake, FakeVonage):
        return {"message-count": "1", "messages": [{"status": "0", "message-id": message_id}]}
    return {"success": True, "data": {"id": message_id}, "message": None}


@pytest.mark.parametrize("message_id", ["S" * 129, "SM 1", "", None, True, 1.5])
async def test_an_acceptance_whose_id_cannot_be_stored_is_unconfirmed(
    fake: FakeProvider, http_session: aiohttp.ClientSession, message_id: Any
) -> None:
    fake.fail_next(1, 200, acceptance(fake, message_id))
    with pytest.raises(UnconfirmedSmsError, match="readable message id"):
        await sender_for(fake, http_session).send(MESSAGE)


async def test_an_acceptance_with_a_128_character_id_is_receipted(
    fake: FakeProvider, http_session: aiohttp.ClientSession
) -> None:
    fake.fail_next(1, 200, acceptance(fake, "S" * 128))
    receipt = await sender_for(fake, http_session).send(MESSAGE)
    assert receipt.provider_message_id == "S" * 128


@pytest.mark.parametrize("status", [200, 201, 202])
async def test_a_2xx_cut_off_in_its_body_is_final_so_no_second_sms_goes_out(
    fake: FakeProvider, http_session: aiohttp.ClientSession, status: int
) -> None:
    fake.cut_off_next(1, status)
    with pytest.raises(UnconfirmedSmsError, match=f"answered {status}") as caught:
        await sender_for(fake, http_session).send(MESSAGE)
    assert not caught.value.retryable
    assert len(fake.requests) == 1
    assert_safe(caught.value)


async def test_an_endless_2xx_answer_is_not_read_to_its_end(
    fake: FakeProvider, http_session: aiohttp.ClientSession
) -> None:
    # Read without a bound, the answer would only end with the (generous) timeout.
    fake.flood_next(1, 200)
    with pytest.raises(UnconfirmedSmsError, match="answered 200 without a readable") as caught:
        await sender_for(fake, http_session, timeout=30.0).send(MESSAGE)
    assert not isinstance(caught.value.__cause__, TimeoutError)


@pytest.mark.parametrize(("status", "error"), [(503, RetryableSmsError), (400, PermanentSmsError)])
async def test_an_endless_refusal_is_classified_by_its_status(
    fake: FakeProvider, http_session: aiohttp.ClientSession, status: int, error: type[SmsError]
) -> None:
    fake.flood_next(1, status)
    with pytest.raises(error, match=str(status)) as caught:
        await sender_for(fake, http_session, timeout=30.0).send(MESSAGE)
    assert not isinstance(caught.value, UnconfirmedSmsError)


async def test_a_timeout_awaiting_the_answer_is_final_as_the_sms_may_have_gone_out(
    fake: FakeProvider, http_session: aiohttp.ClientSession
) -> None:
    # The provider takes the request and would answer (successfully) after a second: only
    # the 0.2 s timeout can make this send fail, after the provider has the request.
    fake.delay = 1.0
    with pytest.raises(UnconfirmedSmsError, match="may have been sent") as caught:
        await sender_for(fake, http_session, timeout=0.2).send(MESSAGE)
    assert not caught.value.retryable
    assert len(fake.requests) == 1
    assert_safe(caught.value)


async def test_a_refused_connection_is_retryable(
    fake: FakeProvider, http_session: aiohttp.ClientSession
) -> None:
    sender = sender_for(fake, http_session, {"base_url": closed_port_url()})
    with pytest.raises(RetryableSmsError, match="unreachable") as caught:
        await sender.send(MESSAGE)
    assert_safe(caught.value)


async def test_wrong_credentials_are_permanent(
    fake: FakeProvider, http_session: aiohttp.ClientSession
) -> None:
    secret_key = "api_key" if isinstance(fake, FakeSmsAero) else "api_secret"
    sender = sender_for(fake, http_session, {secret_key: "wrong-secret-e3b0"})
    with pytest.raises(PermanentSmsError) as caught:
        await sender.send(MESSAGE)
    assert len(fake.requests) == 1
    assert fake.sent_ids == []
    assert_safe(caught.value, "wrong-secret-e3b0")


@pytest.mark.parametrize("to", ["", "12345", "+0123456789", "+7916123456789012", "7916-123-45-67"])
async def test_a_number_that_is_not_e164_is_refused_before_sending(
    fake: FakeProvider, http_session: aiohttp.ClientSession, to: str
) -> None:
    with pytest.raises(PermanentSmsError, match=r"E\.164"):
        await sender_for(fake, http_session).send(SmsMessage(to=to, body=MESSAGE.body))
    assert fake.requests == []


REQUIRED = [
    *((FakeTwilio, key) for key in ("api_sid", "api_secret", "from")),
    *((FakeVonage, key) for key in ("api_key", "api_secret", "from")),
    *((FakeSmsAero, key) for key in ("email", "api_key")),
]


@pytest.mark.parametrize(("kind", "key"), REQUIRED)
@pytest.mark.parametrize("value", [None, "", "   ", 42])
async def test_build_sender_refuses_a_missing_or_blank_required_option(
    http_session: aiohttp.ClientSession, kind: type[FakeProvider], key: str, value: Any
) -> None:
    options = {**kind().sender_options(), key: value}
    if value is None:
        del options[key]
    with pytest.raises(PermanentSmsError, match=re.escape(repr(key))) as caught:
        build_sender(kind.provider_type, options, http_session, timeout=1.0)
    assert_safe(caught.value)


@pytest.mark.parametrize("base_url", ["ftp://example.com", "example.com", "http://"])
async def test_build_sender_refuses_a_base_url_that_is_not_http(
    fake: FakeProvider, http_session: aiohttp.ClientSession, base_url: str
) -> None:
    with pytest.raises(PermanentSmsError, match="base_url"):
        sender_for(fake, http_session, {"base_url": base_url})


async def test_build_sender_refuses_an_unknown_provider(
    http_session: aiohttp.ClientSession,
) -> None:
    with pytest.raises(PermanentSmsError, match="unknown SMS provider"):
        build_sender("Carrier-Pigeon", {}, http_session, timeout=1.0)


@pytest.mark.parametrize("provider_type", ["twilio", "TWILIO", "Twilio"])
async def test_build_sender_takes_the_type_in_any_case_and_a_wrapped_secret(
    aiohttp_server: AiohttpServer, http_session: aiohttp.ClientSession, provider_type: str
) -> None:
    twilio = await serve(aiohttp_server, FakeTwilio())
    options = {**twilio.sender_options(), "api_secret": SecretStr(TWILIO_AUTH_TOKEN)}
    sender = build_sender(provider_type, options, http_session, timeout=1.0)
    assert sender.provider == "Twilio"
    await sender.send(MESSAGE)
    assert twilio.requests[0].auth == (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)

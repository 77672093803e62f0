"""SMS delivery receipts, end to end: a busy call's SMS goes out through a fake provider that
was given the public URL, the provider posts its receipts back (through a "proxy" to the real
server, signed as it signs them), and a downstream consumer sees each final delivery once;
an undelivered SMS fails over to the next provider once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.db.sms_attempts import SmsAttempt, call_attempts
from confirmhub.settings import Settings
from tests.fakes import FakeMcn
from tests.helpers import EventTap, body_of, eventually
from tests.sms_fakes import FakeProvider, FakeSmsAero, FakeTwilio, FakeVonage
from tests.sms_support import ADMIN, CALL, add_provider, add_template, place_call, post_cdr

PUBLIC_URL = "https://confirmhub.example.com/hub"
DELIVERY_EVENTS = ("password_call.sms_delivered", "password_call.sms_undelivered")

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


# Short, so that a send can outlive it within a test; long beside a loopback send.
LEASE = 3.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings, with the public URL providers are given (a proxy's, not ours)."""
    update = {"public_url": PUBLIC_URL, "sms_claim_lease": LEASE, "mcn_api_timeout": 10.0}
    return settings.model_copy(update=update)


@dataclass
class Scene:
    """A call whose SMS goes out, and what a user and a consumer see of it."""

    client: TestClient[web.Request, web.Application]
    engine: AsyncEngine
    fake_mcn: FakeMcn
    deliveries: EventTap
    sends: EventTap
    provider_ids: dict[str, int] = field(default_factory=dict)

    async def configure(self, *fakes: FakeProvider) -> None:
        """The fakes as providers in priority order, behind the proxy; and a template."""
        for priority, fake in enumerate(fakes, start=1):
            fake.proxy = (PUBLIC_URL, str(self.client.make_url("")).rstrip("/"))
            name = fake.provider_type.lower()
            await add_provider(self.client, fake, name=name, priority=priority)
        await add_template(self.client, priority=1, text="Your code is %CODE%")
        listed = await self.client.get("/api/v2/confirmations/providers", headers=ADMIN)
        self.provider_ids = {provider["name"]: provider["id"] for provider in await listed.json()}

    async def sms_sent(self, fake: FakeProvider, count: int = 1) -> str:
        """A busy call whose SMS ``fake`` took; the message id."""
        await place_call(self.client, self.fake_mcn)
        await post_cdr(self.client, 17)
        event = body_of(await self.sends.next())
        assert event["type"] == "password_call.sms_sent"
        assert len(fake.sent_ids) == count
        return fake.sent_ids[-1]

    async def view(self) -> dict[str, Any]:
        """The call as the API shows it."""
        response = await self.client.get(f"/api/v1/password-calls/{CALL}", headers=ADMIN)
        assert response.status == 200
        view: dict[str, Any] = await response.json()
        return view

    async def attempts(self) -> list[SmsAttempt]:
        """The call's SMS attempts as stored."""
        async with self.engine.connect() as connection:
            return await call_attempts(connection, CALL)


@pytest.fixture
async def scene(
    client: TestClient[web.Request, web.Application],
    engine: AsyncEngine,
    fake_mcn: FakeMcn,
    channel: Any,
    sms_events: EventTap,
) -> Scene:
    """The call's world, no provider configured yet."""
    deliveries = await EventTap.bind(channel, *DELIVERY_EVENTS)
    return Scene(client, engine, fake_mcn, deliveries, sms_events)


@pytest.fixture
def fakes(twilio: FakeTwilio, vonage: FakeVonage, smsaero: FakeSmsAero) -> dict[str, FakeProvider]:
    """Every provider's fake, by the type's name in a receipt URL."""
    return {"twilio": twilio, "vonage": vonage, "smsaero": smsaero}


async def report(fake: FakeProvider, message_id: str, delivered: bool) -> int:
    """``fake``'s final receipt for ``message_id``, as the provider words it."""
    if isinstance(fake, FakeTwilio):
        if delivered:
            return await fake.report(message_id, "delivered")
        return await fake.report(message_id, "undelivered", "30003")
    if isinstance(fake, FakeVonage):
        if delivered:
            return await fake.report(message_id, "delivered")
        return await fake.report(message_id, "failed", "2", as_json=True)
    assert isinstance(fake, FakeSmsAero)
    if delivered:
        fake.set_status(message_id, 1, "delivery")
        return await fake.report(message_id, 1, "delivery")
    fake.set_status(message_id, 2, "error")
    return await fake.report(message_id, 2, "error")


async def intermediate(fake: FakeProvider, message_id: str) -> int:
    """``fake``'s receipt saying the message is on its way."""
    if isinstance(fake, FakeTwilio):
        return await fake.report(message_id, "sent")
    if isinstance(fake, FakeVonage):
        return await fake.report(message_id, "accepted")
    assert isinstance(fake, FakeSmsAero)
    fake.set_status(message_id, 3, "transmitted")
    return await fake.report(message_id, 3, "transmitted")


OK = {"Twilio": 204, "Vonage": 204, "SMSAero": 200}
FINAL = {
    ("Twilio", True): ("delivered", None),
    ("Twilio", False): ("undelivered", "30003"),
    ("Vonage", True): ("delivered", None),
    ("Vonage", False): ("failed", "2"),
    ("SMSAero", True): ("delivery", None),
    ("SMSAero", False): ("error", None),
}


@pytest.mark.parametrize("kind", ["twilio", "vonage", "smsaero"])
@pytest.mark.parametrize("delivered", [True, False], ids=["delivered", "undelivered"])
async def test_a_providers_receipt_publishes_its_delivery_once(
    scene: Scene, fakes: dict[str, FakeProvider], kind: str, delivered: bool
) -> None:
    fake = fakes[kind]
    await scene.configure(fake)
    message_id = await scene.sms_sent(fake)
    # The send asked for receipts at the public URL of this provider.
    provider_id = scene.provider_ids[kind]
    assert fake.receipt_urls[message_id].startswith(
        f"{PUBLIC_URL}/webhooks/sms/{kind}/{provider_id}"
    )

    assert await intermediate(fake, message_id) == OK[fake.provider_type]
    assert (await scene.view())["sms_delivery"] == "pending"
    assert await report(fake, message_id, delivered) == OK[fake.provider_type]
    # Receipts repeat and arrive out of order: neither publishes again nor regresses.
    assert await report(fake, message_id, delivered) == OK[fake.provider_type]
    assert await intermediate(fake, message_id) == OK[fake.provider_type]

    event = body_of(await scene.deliveries.next())
    expected = "delivered" if delivered else "undelivered"
    assert event["type"] == f"password_call.sms_{expected}"
    status, error_code = FINAL[(fake.provider_type, delivered)]
    assert event["data"] == {
        "verification_call_uuid": CALL,
        "provider": kind,
        "provider_message_id": message_id,
        "status": status,
        "error_code": error_code,
    }
    await scene.deliveries.assert_quiet(1.0)
    view = await scene.view()
    assert view["sms_delivery"] == expected
    assert [(a["provider"], a["delivery"], a["delivery_status"]) for a in view["sms_attempts"]] == [
        (kind, expected, status)
    ]
    # No other provider was configured, so an undelivered SMS has nowhere to fail over to.
    await scene.sends.assert_quiet(0.5)


@pytest.mark.parametrize("first", ["twilio", "vonage", "smsaero"])
async def test_an_undelivered_sms_is_sent_through_the_next_provider_once(
    scene: Scene, fakes: dict[str, FakeProvider], first: str
) -> None:
    primary = fakes.pop(first)
    second, third = fakes.values()
    await scene.configure(primary, second, third)
    message_id = await scene.sms_sent(primary)

    assert await report(primary, message_id, delivered=False) == OK[primary.provider_type]
    assert body_of(await scene.deliveries.next())["type"] == "password_call.sms_undelivered"
    # The failover: the next provider by priority, once.
    event = body_of(await scene.sends.next())
    assert (event["type"], event["data"]["provider"]) == (
        "password_call.sms_sent",
        second.provider_type.lower(),
    )
    assert len(second.requests) == 1
    failover_id = second.sent_ids[0]
    assert event["data"]["provider_message_id"] == failover_id

    # The failover is undelivered too: that is reported, and nothing more is sent.
    assert await report(second, failover_id, delivered=False) == OK[second.provider_type]
    assert body_of(await scene.deliveries.next())["type"] == "password_call.sms_undelivered"
    await scene.sends.assert_quiet(3.0)
    assert (len(primary.requests), len(second.requests), third.requests) == (1, 1, [])
    view = await scene.view()
    assert [(a["provider"], a["round"], a["delivery"]) for a in view["sms_attempts"]] == [
        (first, 1, "undelivered"),
        (second.provider_type.lower(), 2, "undelivered"),
    ]
    assert (view["sms_status"], view["sms_provider"]) == ("sent", second.provider_type.lower())


async def test_a_delivered_sms_after_the_code_was_approved_sends_nothing_more(
    scene: Scene, twilio: FakeTwilio, vonage: FakeVonage
) -> None:
    await scene.configure(twilio, vonage)
    sid = await scene.sms_sent(twilio)
    check = await scene.client.post(
        f"/api/v1/password-calls/{CALL}/check", json={"code": "1234"}, headers=ADMIN
    )
    assert (await check.json())["status"] == "approved"
    # A late "undelivered" (the user got the code some other way): no failover.
    assert await twilio.report(sid, "undelivered", "30005") == 204
    assert body_of(await scene.deliveries.next())["type"] == "password_call.sms_undelivered"
    await scene.sends.assert_quiet(3.0)
    assert vonage.requests == []


@pytest.mark.parametrize(
    "forgery",
    ["missing", "wrong secret", "signed for another URL"],
)
async def test_a_twilio_receipt_that_does_not_verify_changes_nothing(
    scene: Scene, twilio: FakeTwilio, forgery: str
) -> None:
    await scene.configure(twilio)
    sid = await scene.sms_sent(twilio)
    given = twilio.receipt_urls[sid]
    if forgery == "missing":
        status = await twilio.report(sid, "undelivered", "30003", signature=None)
    elif forgery == "wrong secret":
        twilio.auth_token = "not-the-auth-token"
        status = await twilio.report(sid, "undelivered", "30003")
    else:
        # Signed over the URL the request arrives at, not the one Twilio was given.
        real = twilio._proxied(given)
        twilio.receipt_urls[sid] = real
        status = await twilio.report(sid, "undelivered", "30003")
        twilio.receipt_urls[sid] = given
    assert status == 401
    await scene.deliveries.assert_quiet(1.0)
    assert [(a.delivery, a.delivery_status) for a in await scene.attempts()] == [(None, None)]
    assert (await scene.view())["sms_delivery"] is None


@pytest.mark.parametrize("forgery", ["unsigned", "wrong secret"])
async def test_a_vonage_receipt_that_does_not_verify_changes_nothing(
    scene: Scene, vonage: FakeVonage, forgery: str
) -> None:
    await scene.configure(vonage)
    message_id = await scene.sms_sent(vonage)
    signed_with = None if forgery == "unsigned" else "not-the-signature-secret"
    assert await vonage.report(message_id, "failed", "2", signed_with=signed_with) == 401
    await scene.deliveries.assert_quiet(1.0)
    assert [a.delivery for a in await scene.attempts()] == [None]


async def test_an_smsaero_callback_is_only_a_hint(scene: Scene, smsaero: FakeSmsAero) -> None:
    await scene.configure(smsaero)
    message_id = await scene.sms_sent(smsaero)
    # Anyone may post "delivered"; SMSAero's own status API says otherwise, and wins.
    smsaero.set_status(message_id, 2, "error")
    assert await smsaero.report(message_id, 1, "delivery") == 200
    event = body_of(await scene.deliveries.next())
    assert (event["type"], event["data"]["status"]) == ("password_call.sms_undelivered", "error")
    assert smsaero.status_requests == [message_id]


async def test_an_smsaero_status_api_that_cannot_answer_records_nothing(
    scene: Scene, smsaero: FakeSmsAero
) -> None:
    await scene.configure(smsaero)
    message_id = await scene.sms_sent(smsaero)
    smsaero.status_api_down = True
    assert await smsaero.report(message_id, 1, "delivery") == 502  # SMSAero sends it again
    await scene.deliveries.assert_quiet(1.0)
    assert [a.delivery for a in await scene.attempts()] == [None]
    smsaero.status_api_down = False
    smsaero.set_status(message_id, 1, "delivery")
    assert await smsaero.report(message_id, 1, "delivery") == 200
    assert body_of(await scene.deliveries.next())["type"] == "password_call.sms_delivered"


async def test_an_unknown_provider_or_message_is_refused_without_saying_which(
    scene: Scene, twilio: FakeTwilio, smsaero: FakeSmsAero
) -> None:
    await scene.configure(twilio, smsaero)
    sid = await scene.sms_sent(twilio)
    ids = scene.provider_ids
    unknown = max(ids.values()) + 1
    # Twilio and Vonage: a provider that does not exist cannot verify anything; neither can
    # one of another type.
    given = twilio.receipt_urls[sid]
    for other in (unknown, ids["smsaero"]):
        own = f"/webhooks/sms/twilio/{ids['twilio']}?"
        twilio.receipt_urls[sid] = given.replace(own, f"/webhooks/sms/twilio/{other}?")
        assert await twilio.report(sid, "delivered") == 401
    twilio.receipt_urls[sid] = given
    # SMSAero: an unknown provider and an unknown message get one answer.
    answers = []
    for provider_id, message_id in ((unknown, "190000001"), (ids["smsaero"], "555")):
        response = await scene.client.post(
            f"/webhooks/sms/smsaero/{provider_id}", json={"id": message_id, "status": 1}
        )
        answers.append((response.status, (await response.json())["detail"]))
    assert answers[0] == answers[1]
    assert answers[0][0] == 404
    assert smsaero.status_requests == []
    await scene.deliveries.assert_quiet(0.5)


async def test_a_receipt_that_overtakes_the_send_is_matched_by_its_reference(
    scene: Scene, twilio: FakeTwilio, vonage: FakeVonage
) -> None:
    await scene.configure(twilio, vonage)
    # Twilio reports "undelivered" before it answers the send, so the message id is not
    # recorded yet: the receipt finds its attempt by the reference in its signed URL, and the
    # failover it calls for is queued once the first SMS is finished.
    twilio.report_before_answer = ("undelivered", "30008")
    sid = await scene.sms_sent(twilio)
    assert twilio.early_reports == [204]
    event = body_of(await scene.deliveries.next())
    assert (event["type"], event["data"]["provider_message_id"]) == (
        "password_call.sms_undelivered",
        sid,
    )
    failover = body_of(await scene.sends.next())
    assert (failover["type"], failover["data"]["provider"]) == ("password_call.sms_sent", "vonage")
    attempts = await scene.attempts()
    assert [(a.state, a.provider_message_id, a.delivery) for a in attempts] == [
        ("accepted", sid, "undelivered"),
        ("accepted", vonage.sent_ids[0], None),
    ]
    await scene.sends.assert_quiet(1.0)


async def test_a_delivered_receipt_shows_the_truth_of_an_sms_reported_failed(
    scene: Scene, twilio: FakeTwilio
) -> None:
    await scene.configure(twilio)
    twilio.delay = 2.5 * LEASE  # Twilio answers, successfully, after the lease ran out
    await place_call(scene.client, scene.fake_mcn)
    await post_cdr(scene.client, 17)
    failed = body_of(await scene.sends.next(timeout=3 * LEASE))
    assert failed["type"] == "password_call.sms_failed"
    assert "may have been sent" in failed["data"]["error"]
    await eventually(lambda: twilio.sent_ids, timeout=3 * LEASE)
    [sid] = twilio.sent_ids
    await eventually(lambda: _has_message_id(scene, sid))

    assert await twilio.report(sid, "delivered") == 204
    event = body_of(await scene.deliveries.next())
    assert (event["type"], event["data"]["provider_message_id"]) == (
        "password_call.sms_delivered",
        sid,
    )
    view = await scene.view()
    assert (view["sms_status"], view["sms_delivery"]) == ("failed", "delivered")
    assert len(twilio.requests) == 1


async def _has_message_id(scene: Scene, message_id: str) -> bool:
    return [a.provider_message_id for a in await scene.attempts()] == [message_id]

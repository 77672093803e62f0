"""An SMS is sent at most once: a fault at any step of a send never makes a second one.

Each test injects one fault (in the database, in the provider's answer, in the worker's life,
or in time) while a busy call's SMS goes out, with Twilio first and Vonage second by
priority, and counts the requests each fake provider received.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.crypto import SecretsBox
from confirmhub.db import confirmations
from confirmhub.db.sms_attempts import SmsAttempt, call_attempts
from confirmhub.settings import Settings
from tests import faults
from tests.db_faults import failing_writes
from tests.fakes import FakeMcn
from tests.helpers import EventTap, body_of, eventually
from tests.sms_fakes import FakeTwilio, FakeVonage
from tests.sms_support import ADMIN, CALL, add_provider, add_template, place_call, post_cdr
from worker.app import running_worker

# Short, so that the sweep takes over within a test; sends ask 10 s before timing out.
LEASE = 1.0
# Long enough for the sweep to have taken the SMS over a few times.
SEVERAL_LEASES = 3.5 * LEASE


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings, with a lease the sweep runs out of within a test.

    These tests place their call only to get an SMS going: a loaded machine must not fail
    them on the MCN fake's answer, hence MCN's usual timeout.
    """
    update = {"sms_claim_lease": LEASE, "sms_resume_interval": 0.2, "mcn_api_timeout": 10.0}
    return settings.model_copy(update=update)


@dataclass
class Scene:
    """A call's SMS on its way, and what a user and an operator can see of it."""

    client: TestClient[web.Request, web.Application]
    engine: AsyncEngine
    fake_mcn: FakeMcn
    twilio: FakeTwilio
    vonage: FakeVonage
    events: EventTap

    async def busy_call(self) -> None:
        """A call that ends busy, so that its SMS is due."""
        await place_call(self.client, self.fake_mcn)
        await post_cdr(self.client, 17)

    async def next_event(self) -> tuple[str, str | None, dict[str, Any]]:
        """The next SMS event: its type, its provider and its data."""
        event = body_of(await self.events.next())
        return event["type"], event["data"]["provider"], event["data"]

    def requests(self) -> tuple[int, int]:
        """How many requests Twilio and Vonage received."""
        return len(self.twilio.requests), len(self.vonage.requests)

    async def attempts(self) -> list[SmsAttempt]:
        """The call's SMS attempts as stored."""
        async with self.engine.connect() as connection:
            return await call_attempts(connection, CALL)

    async def states(self) -> list[str]:
        """The states of the call's SMS attempts, in order."""
        return [attempt.state for attempt in await self.attempts()]

    async def sms_status(self) -> str | None:
        """The call's ``sms_status`` as the API shows it."""
        response = await self.client.get(f"/api/v1/password-calls/{CALL}", headers=ADMIN)
        assert response.status == 200
        status: str | None = (await response.json())["sms_status"]
        return status


@pytest.fixture
def scene(
    client: TestClient[web.Request, web.Application],
    engine: AsyncEngine,
    fake_mcn: FakeMcn,
    twilio: FakeTwilio,
    vonage: FakeVonage,
    sms_events: EventTap,
) -> Scene:
    """The call's world, no provider configured yet."""
    return Scene(client, engine, fake_mcn, twilio, vonage, sms_events)


@pytest.fixture
async def providers(scene: Scene) -> None:
    """Twilio first, Vonage second, and a template."""
    await add_provider(scene.client, scene.twilio, name="twilio", priority=1)
    await add_provider(scene.client, scene.vonage, name="vonage", priority=2)
    await add_template(scene.client, priority=1, text="Your code is %CODE%")


@pytest.mark.usefixtures("worker", "providers")
async def test_recording_the_attempt_fails_so_nothing_is_sent_until_it_can_be_then_once(
    scene: Scene,
) -> None:
    async with failing_writes(scene.engine, table="sms_attempts", operation="INSERT", when="1 = 1"):
        await scene.busy_call()
        await eventually(lambda: _is(scene.sms_status(), "sending"))
        await asyncio.sleep(SEVERAL_LEASES)  # the sweep takes it over, and fails, again
        assert scene.requests() == (0, 0)
        assert await scene.sms_status() == "sending"

    kind, provider, data = await scene.next_event()
    assert (kind, provider) == ("password_call.sms_sent", "twilio")
    assert data["provider_message_id"] == scene.twilio.sent_ids[0]
    await scene.events.assert_quiet(SEVERAL_LEASES)
    assert scene.requests() == (1, 0)
    assert await scene.states() == ["accepted"]


@pytest.mark.usefixtures("worker", "providers")
async def test_a_resumed_sms_skips_the_provider_that_failed_already(scene: Scene) -> None:
    scene.twilio.fail_next(1, 503, {"code": 20500, "message": "Internal Error", "status": 503})
    # Twilio's failure is recorded; recording the failover to Vonage fails, for a while.
    async with failing_writes(
        scene.engine, table="sms_attempts", operation="INSERT", when="NEW.attempt_no = 2"
    ):
        await scene.busy_call()
        await eventually(lambda: scene.requests() == (1, 0))
        await asyncio.sleep(SEVERAL_LEASES)
        assert scene.requests() == (1, 0)

    assert (await scene.next_event())[:2] == ("password_call.sms_sent", "vonage")
    await scene.events.assert_quiet(SEVERAL_LEASES)
    assert scene.requests() == (1, 1)
    assert await scene.states() == ["failed", "accepted"]


@pytest.mark.usefixtures("worker", "providers")
async def test_an_accepted_sms_whose_outcome_cannot_be_recorded_is_never_sent_again(
    scene: Scene,
) -> None:
    async with failing_writes(
        scene.engine, table="sms_attempts", operation="UPDATE", when="NEW.state = 'accepted'"
    ):
        await scene.busy_call()
        # Its outcome lost, the attempt is taken over as unconfirmed: the SMS may have gone.
        kind, provider, data = await scene.next_event()
        await scene.events.assert_quiet(SEVERAL_LEASES)

    assert (kind, provider) == ("password_call.sms_failed", "twilio")
    assert "may have been sent" in data["error"]
    assert scene.requests() == (1, 0)
    assert await scene.states() == ["unconfirmed"]
    assert await scene.sms_status() == "failed"


@pytest.mark.usefixtures("worker", "providers")
async def test_an_accepted_sms_that_cannot_be_finished_is_never_sent_again(scene: Scene) -> None:
    # What a provider name too long for its column did: finishing the SMS fails every time.
    async with failing_writes(
        scene.engine,
        table="password_calls",
        operation="UPDATE",
        when="NEW.sms_status IN ('sent', 'failed')",
    ):
        await scene.busy_call()
        await eventually(lambda: scene.requests() == (1, 0))
        await scene.events.assert_quiet(SEVERAL_LEASES)  # taken over, and failing, again
        assert scene.requests() == (1, 0)
        assert await scene.sms_status() == "sending"

    # Once it can be, the sweep finishes it from the recorded attempt, without a request.
    kind, provider, data = await scene.next_event()
    assert (kind, provider) == ("password_call.sms_sent", "twilio")
    assert data["provider_message_id"] == scene.twilio.sent_ids[0]
    await scene.events.assert_quiet(SEVERAL_LEASES)
    assert scene.requests() == (1, 0)
    assert await scene.sms_status() == "sent"


@pytest.mark.usefixtures("worker", "providers")
async def test_a_2xx_cut_off_before_its_body_is_not_sent_through_the_next_provider(
    scene: Scene,
) -> None:
    scene.twilio.cut_off_next(1, 201)
    await scene.busy_call()

    kind, provider, data = await scene.next_event()
    assert (kind, provider) == ("password_call.sms_failed", "twilio")
    assert "answered 201" in data["error"]
    await scene.events.assert_quiet(SEVERAL_LEASES)
    assert scene.requests() == (1, 0)
    assert await scene.states() == ["unconfirmed"]


@pytest.mark.usefixtures("providers")
async def test_a_worker_killed_mid_send_leaves_the_sms_unsent_by_any_other(
    scene: Scene, settings: Settings, tmp_path: Path
) -> None:
    scene.twilio.delay = 2.0  # the kill lands while Twilio holds the request
    first = faults.spawn(settings, "worker", log_path=tmp_path / "worker.log")
    try:
        await scene.busy_call()
        await eventually(lambda: scene.requests() == (1, 0), timeout=30)
    finally:
        assert faults.stop(first, sig=signal.SIGKILL) == -signal.SIGKILL

    # Another worker gets the CDR again (never acknowledged) and the SMS once the lease is
    # out: the request may have been taken, so it ends the SMS without a second one.
    async with running_worker(settings):
        kind, provider, data = await scene.next_event()
        await scene.events.assert_quiet(SEVERAL_LEASES)
    assert (kind, provider) == ("password_call.sms_failed", "twilio")
    assert "may have been sent" in data["error"]
    assert scene.requests() == (1, 0)
    assert await scene.states() == ["unconfirmed"]


@pytest.mark.usefixtures("worker", "providers")
async def test_a_send_outliving_its_lease_is_not_sent_again(scene: Scene) -> None:
    scene.twilio.delay = 2.5 * LEASE  # Twilio answers, successfully, after the lease ran out
    await scene.busy_call()

    # The sweep takes the SMS over while Twilio still holds the request: in doubt, it ends
    # the SMS without sending it again.
    kind, provider, data = await scene.next_event()
    assert (kind, provider) == ("password_call.sms_failed", "twilio")
    assert "may have been sent" in data["error"]
    # Twilio's late answer is recorded on its attempt; nothing else happens.
    await eventually(lambda: _is(scene.states(), ["accepted"]))
    await scene.events.assert_quiet(SEVERAL_LEASES)
    assert scene.requests() == (1, 0)
    [attempt] = await scene.attempts()
    assert attempt.provider_message_id == scene.twilio.sent_ids[0]
    assert await scene.sms_status() == "failed"


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize("secrets", ["under-another-key", "missing"])
async def test_a_provider_that_cannot_send_is_skipped_without_holding_up_the_others(
    scene: Scene, secrets: str
) -> None:
    # Stored under another key (say, before a key change), or stored without its secret:
    # this worker cannot send through it.
    other_key = SecretsBox(SecretStr(SecretsBox.generate_key()))
    vonage = scene.vonage
    unusable = confirmations.ProviderFields(
        name="unusable",
        caption="unusable",
        provider="Vonage",
        is_enabled=True,
        priority=1,
        options={"api_key": vonage.api_key, "from": "ConfirmHub", "base_url": vonage.url},
        secrets_encrypted=None
        if secrets == "missing"
        else confirmations.encrypt_secrets(other_key, {"api_secret": vonage.api_secret}),
        resources=[],
    )
    async with scene.engine.begin() as connection:
        await confirmations.insert_provider(connection, unusable, now=dt.datetime.now(dt.UTC))
    await add_provider(scene.client, scene.twilio, name="twilio", priority=2)
    await add_template(scene.client, priority=1, text="Your code is %CODE%")
    await scene.busy_call()

    assert (await scene.next_event())[:2] == ("password_call.sms_sent", "twilio")
    assert scene.requests() == (1, 0)
    # No request, so no attempt: only the provider that was asked is on record.
    assert [attempt.provider_name for attempt in await scene.attempts()] == ["twilio"]


async def _is(value: Awaitable[object], expected: object) -> bool:
    """Whether ``value``, once awaited, is ``expected`` (for ``eventually``)."""
    return await value == expected

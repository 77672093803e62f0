"""While the broker is away, every request is answered in time and the database stays free.

The broker goes away behind a TCP proxy (tests/tcp_proxy.py), for the app under test only:
``cut`` (the node is gone: connections close, new ones fail) or ``freeze`` (the node hangs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from confirmhub.broker import ConfirmingPublisher
from confirmhub.db.store import OutboxEvent, Store
from confirmhub.outbox import OutboxRelay
from confirmhub.resources import open_broker, open_database
from confirmhub.settings import Settings
from tests.conftest import ADMIN_TOKEN, WEBHOOK_SECRET
from tests.fakes import FakeMcn
from tests.helpers import EventTap, eventually
from tests.tcp_proxy import TcpProxy, proxy_to

AUTH = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Far beyond any confirm timeout here: a request still unanswered by then hangs.
HANG = 15.0

MakeClient = Callable[[Settings], Awaitable[TestClient]]  # type: ignore[type-arg]


BOTH_BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgresql"])


@pytest.fixture
async def proxy(amqp_url: str) -> AsyncIterator[TcpProxy]:
    """A proxy between the app under test and the session's RabbitMQ."""
    async with proxy_to(amqp_url) as proxy:
        yield proxy


def through(proxy: TcpProxy, settings: Settings, **update: Any) -> Settings:
    """``settings`` with the broker reached through ``proxy``."""
    url = proxy.url(settings.amqp_url.get_secret_value())
    return settings.model_copy(update={"amqp_url": SecretStr(url), **update})


def cdr() -> dict[str, Any]:
    return {
        "verification_call_uuid": f"{uuid.uuid4().hex[:12]}_117793",
        "q931_status": "17",
        "final_status": "CANCEL",
    }


async def post_cdr(client: TestClient) -> tuple[int, str | None]:  # type: ignore[type-arg]
    async with asyncio.timeout(HANG):
        response = await client.post("/webhooks/mcn/password-call", json=cdr(), headers=AUTH)
        return response.status, response.headers.get("Retry-After")


@pytest.mark.parametrize("away", ["cut", "freeze"])
async def test_a_webhook_is_answered_503_in_time_while_the_broker_is_away(
    make_client: MakeClient, settings: Settings, proxy: TcpProxy, away: str
) -> None:
    client = await make_client(through(proxy, settings, publish_confirm_timeout=1.0))
    assert await post_cdr(client) == (202, None)

    getattr(proxy, away)()
    assert await post_cdr(client) == (503, str(settings.retry_after_seconds))
    if away == "cut":
        # Once the receiver knows the connection is gone, it tries to reconnect meanwhile.
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert (await ready.json())["broker_node"] is None
        assert await post_cdr(client) == (503, str(settings.retry_after_seconds))

    proxy.restore()

    async def accepted_again() -> bool:
        return (await post_cdr(client))[0] == 202

    await eventually(accepted_again, timeout=HANG)
    assert (await client.get("/readyz")).status == 200


@BOTH_BACKENDS
async def test_a_code_check_is_answered_while_the_broker_is_away(
    make_client: MakeClient, settings: Settings, proxy: TcpProxy, fake_mcn: FakeMcn
) -> None:
    client = await make_client(through(proxy, settings, publish_confirm_timeout=1.0))
    fake_mcn.next_uuid = call = "c0de000000aa_117793"
    placed = await client.post(
        "/api/v1/password-calls",
        json={"phone_number": "421222202004", "verification_code": "1234"},
        headers=ADMIN,
    )
    assert placed.status == 201

    proxy.cut()
    async with asyncio.timeout(HANG):
        checked = await client.post(
            f"/api/v1/password-calls/{call}/check", json={"code": "1234"}, headers=ADMIN
        )
    # The approval is committed; its event waits in the outbox for the broker.
    assert await checked.json() == {"valid": True, "status": "approved", "attempts_left": 0}
    async with open_database(settings) as engine:
        assert await Store(engine).count_unpublished() == 1


@BOTH_BACKENDS
async def test_api_writes_go_on_while_the_outbox_sweep_waits_on_the_broker(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    proxy: TcpProxy,
    events: EventTap,
) -> None:
    # A confirm timeout beyond SQLite's busy timeout (5 s): a sweep holding the write lock
    # while it waits would fail the write below.
    relayed = through(proxy, settings, publish_confirm_timeout=8.0)
    async with (
        open_database(relayed) as engine,
        open_broker(relayed, role="worker") as broker,
    ):
        store = Store(engine)
        relay = OutboxRelay(store, ConfirmingPublisher(broker, confirm_timeout=8.0))
        left_behind = OutboxEvent(
            event_id=str(uuid.uuid4()),
            routing_key="password_call.busy",
            body=b'{"left": "behind"}',
            correlation_id=None,
            created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
        )
        async with store.transaction() as tx:
            await tx.add_outbox_events([left_behind])

        proxy.freeze()
        sweep = asyncio.create_task(relay.sweep_once())
        await eventually(lambda: proxy.held_bytes > 0)  # the sweep awaits its confirm

        async with asyncio.timeout(HANG):
            portal = await client.put(
                "/api/v1/bitrix24/portals/0123456789abcdef",
                json={"application_token": "a-token"},
                headers=ADMIN,
            )
        assert portal.status == 200, await portal.text()
        assert not sweep.done()

        proxy.restore()
        assert await sweep == 1
    assert (await events.next()).message_id == left_behind.event_id

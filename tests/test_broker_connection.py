"""The node rotation: several AMQP URLs, a move to the next node at once, backoff only when
all are down, deadlines that hold, and consumers that come back.

Each "node" is a TCP proxy (tests/tcp_proxy.py) in front of the session's RabbitMQ: cutting
one takes that node away for this test's connections only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiormq
import pytest
from aio_pika.abc import AbstractChannel
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from structlog.testing import capture_logs

from confirmhub.broker import MCN_CDR_QUEUE, ConfirmingPublisher
from confirmhub.broker_connection import DEFAULT_HEARTBEAT, BrokerConnection, broker_nodes
from confirmhub.errors import BrokerUnavailable
from confirmhub.settings import Settings
from schemas.inbound import INBOUND_EXCHANGE, MCN_CDR_ROUTING_KEY
from tests.conftest import WEBHOOK_SECRET
from tests.helpers import EventTap, body_of, eventually, free_port
from tests.tcp_proxy import TcpProxy, proxy_to
from worker.app import running_worker

AUTH = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
MakeClient = Callable[[Settings], Awaitable[TestClient]]  # type: ignore[type-arg]


@pytest.fixture
async def nodes(amqp_url: str) -> AsyncIterator[list[TcpProxy]]:
    """Three "nodes": proxies to the session's RabbitMQ."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(proxy_to(amqp_url)) for _ in range(3)]


def node_urls(nodes: list[TcpProxy], amqp_url: str) -> str:
    return ",".join(node.url(amqp_url) for node in nodes)


def on(nodes: list[TcpProxy], broker: BrokerConnection) -> TcpProxy:
    """The proxy ``broker`` is connected through."""
    assert broker.node is not None
    return next(node for node in nodes if broker.node.name.endswith(f":{node.port}"))


def cdr() -> dict[str, Any]:
    return {"verification_call_uuid": f"{uuid.uuid4().hex[:12]}_117793", "q931_status": 17}


def test_a_comma_separated_list_names_every_node_without_its_password() -> None:
    nodes = broker_nodes(
        "amqp://u:secret-1@rabbit-a:5672/v, amqps://u:secret-2@rabbit-b/v?heartbeat=10"
    )
    assert [node.name for node in nodes] == ["rabbit-a:5672", "rabbit-b:5671"]
    assert [node.url.query["heartbeat"] for node in nodes] == [str(DEFAULT_HEARTBEAT), "10"]
    assert "secret" not in repr(nodes)
    with pytest.raises(ValueError, match="AMQP URL #2") as refused:
        broker_nodes("amqp://u:secret-1@rabbit-a/v,http://u:secret-2@rabbit-b/v")
    assert "secret" not in str(refused.value)


async def test_connections_spread_over_the_nodes_in_shuffled_order(
    amqp_url: str, nodes: list[TcpProxy]
) -> None:
    firsts = {BrokerConnection(broker_nodes(node_urls(nodes, amqp_url)), name="t").nodes[0].name}
    for _ in range(30):
        shuffled = BrokerConnection(broker_nodes(node_urls(nodes, amqp_url)), name="t")
        firsts.add(shuffled.nodes[0].name)
    assert len(firsts) > 1


async def test_a_lost_node_is_left_for_the_next_at_once_and_backoff_comes_only_when_all_are_down(
    amqp_url: str, nodes: list[TcpProxy]
) -> None:
    broker = BrokerConnection(broker_nodes(node_urls(nodes, amqp_url)), name="confirmhub test")
    await broker.open()
    try:
        first = on(nodes, broker)
        with capture_logs() as logs:
            first.cut()
            await eventually(lambda: broker.connected.is_set() and on(nodes, broker) != first)
        events = [entry["event"] for entry in logs]
        # Straight to another node: no round of attempts failed, so no pause was taken.
        assert "broker.all_nodes_down" not in events
        assert events[-1] == "broker.connected"
        # The heartbeat asked for unless the URL sets one.
        connection = await broker.current()
        assert connection.transport is not None
        underlay = connection.transport.connection
        assert isinstance(underlay, aiormq.Connection)
        assert underlay.heartbeat_timeout == DEFAULT_HEARTBEAT

        with capture_logs() as logs:
            for node in nodes:
                node.cut()
            await eventually(
                lambda: [e for e in logs if e["event"] == "broker.all_nodes_down"][1:], timeout=20
            )
            assert not broker.connected.is_set()
            nodes[1].restore()
            await eventually(broker.connected.is_set, timeout=20)
        assert on(nodes, broker) == nodes[1]
        down = next(e for e in logs if e["event"] == "broker.all_nodes_down")
        # Each attempt named by its node alone: no credentials.
        assert len(down["attempts"]) == 3
        assert all("guest" not in attempt for attempt in down["attempts"])
    finally:
        await broker.close()


async def test_a_node_that_hangs_is_left_once_its_heartbeats_stop(
    amqp_url: str, nodes: list[TcpProxy]
) -> None:
    urls = ",".join(node.url(amqp_url) + "?heartbeat=1" for node in nodes)
    broker = BrokerConnection(broker_nodes(urls), name="confirmhub test")
    await broker.open()
    try:
        hung = on(nodes, broker)
        hung.freeze()  # the socket stays open: only the missing heartbeats tell
        await eventually(
            lambda: broker.connected.is_set() and on(nodes, broker) != hung, timeout=30
        )
    finally:
        await broker.close()


async def test_no_node_answering_at_start_is_one_clear_error(amqp_url: str) -> None:
    urls = ",".join(f"amqp://guest:pw-{n}@127.0.0.1:{free_port()}/" for n in range(3))
    with pytest.raises(BrokerUnavailable, match="any of 3 node") as refused:
        await BrokerConnection(broker_nodes(urls), name="t").open()
    assert "pw-" not in str(refused.value)


async def test_a_publish_in_flight_when_its_node_dies_is_confirmed_by_the_next(
    amqp_url: str, nodes: list[TcpProxy], channel: AbstractChannel
) -> None:
    broker = BrokerConnection(broker_nodes(node_urls(nodes, amqp_url)), name="confirmhub test")
    await broker.open()
    try:
        publisher = ConfirmingPublisher(broker, confirm_timeout=10.0)
        await publisher.publish(
            exchange=INBOUND_EXCHANGE, routing_key=MCN_CDR_ROUTING_KEY, body=b"{}", message_id="a"
        )
        first = on(nodes, broker)
        first.freeze()  # the next publish goes out, and no confirm comes back
        in_flight = asyncio.create_task(
            publisher.publish(
                exchange=INBOUND_EXCHANGE,
                routing_key=MCN_CDR_ROUTING_KEY,
                body=b"{}",
                message_id="b",
            )
        )
        await eventually(lambda: first.held_bytes > 0)
        first.cut()
        await in_flight  # confirmed through another node
        assert on(nodes, broker) != first
    finally:
        await broker.close()
    queue = await channel.get_queue(MCN_CDR_QUEUE, ensure=False)
    ids = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        ids.append(message.message_id)
    assert ids[0] == "a"
    assert "b" in ids[1:]  # once, or twice if the frozen node had taken it too


async def test_requests_behind_an_unconfirmed_group_commit_get_503_at_their_own_deadline(
    make_client: MakeClient, settings: Settings, amqp_url: str, nodes: list[TcpProxy]
) -> None:
    timeout = 2.0
    client = await make_client(
        settings.model_copy(
            update={
                "amqp_url": SecretStr(nodes[0].url(amqp_url)),
                "publish_confirm_timeout": timeout,
            }
        )
    )

    async def post_at(delay: float) -> tuple[int, float]:
        await asyncio.sleep(delay)
        started = time.monotonic()
        response = await client.post("/webhooks/mcn/password-call", json=cdr(), headers=AUTH)
        return response.status, time.monotonic() - started

    nodes[0].freeze()
    first, behind = await asyncio.gather(post_at(0.0), post_at(timeout / 2))
    assert (first[0], behind[0]) == (503, 503)
    # The second waited behind the first's message, whose deadline came before its own: it
    # is answered at its own deadline, not the first's plus a full timeout of its own.
    assert behind[1] < timeout * 1.5


async def test_the_worker_consumes_again_on_the_next_node(
    settings: Settings,
    amqp_url: str,
    nodes: list[TcpProxy],
    client: TestClient,  # type: ignore[type-arg]
    events: EventTap,
) -> None:
    on_nodes = settings.model_copy(update={"amqp_url": SecretStr(node_urls(nodes, amqp_url))})
    async with running_worker(on_nodes):
        sent = cdr()
        assert (
            await client.post("/webhooks/mcn/password-call", json=sent, headers=AUTH)
        ).status == 202
        assert (
            body_of(await events.next())["data"]["verification_call_uuid"]
            == sent["verification_call_uuid"]
        )
        for node in nodes:
            node.cut()  # whichever node the worker is on goes; one comes back
        nodes[2].restore()
        sent = cdr()
        assert (
            await client.post("/webhooks/mcn/password-call", json=sent, headers=AUTH)
        ).status == 202
        event = body_of(await events.next(timeout=30))
        assert event["data"]["verification_call_uuid"] == sent["verification_call_uuid"]


async def test_the_worker_consumes_again_after_the_broker_cancelled_its_consumer(
    settings: Settings,
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    events: EventTap,
) -> None:
    async with running_worker(settings):
        # Deleting the queue is how RabbitMQ cancels its consumers (basic.cancel).
        await channel.queue_delete(MCN_CDR_QUEUE)
        sent = cdr()

        async def accepted() -> bool:
            response = await client.post("/webhooks/mcn/password-call", json=sent, headers=AUTH)
            return response.status == 202  # 503 until the worker has declared the queue again

        await eventually(accepted, timeout=20, interval=0.3)
        event = body_of(await events.next(timeout=20))
        assert event["data"]["verification_call_uuid"] == sent["verification_call_uuid"]

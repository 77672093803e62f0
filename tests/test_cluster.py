"""No webhook lost when a RabbitMQ node dies: a receiver and a worker on a 3-node cluster.

A receiver and a worker run as real processes, configured with all three nodes of a
private cluster (tests/cluster.py). An open-loop generator posts distinct CDRs at 160/s
while nodes are killed (SIGKILL) or shut down gracefully, and started again. What a sender
and a downstream consumer would observe is asserted: every request answered 202 or 503 in
time, at least 95 % of those sent while a node is down accepted, every accepted CDR ending in
exactly one event, no process restarted, no password anywhere. Run with ``-rP`` to see the
figures.
"""

from __future__ import annotations

import asyncio
import collections
import json
import secrets
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage, ExchangeType
from pydantic import SecretStr

from confirmhub.broker import (
    DEAD_LETTER_QUEUE,
    MCN_CDR_QUEUE,
    ConfirmingPublisher,
    quorum_arguments,
)
from confirmhub.broker_connection import BrokerConnection, broker_nodes
from confirmhub.settings import Settings
from schemas.events import EVENTS_EXCHANGE
from tests import conftest, faults
from tests.cluster import RabbitCluster
from tests.conftest import RETRY_DELAYS, SECRETS_KEY, WEBHOOK_SECRET
from tests.helpers import eventually, free_port
from tests.load import CdrLoad

# Timed against the wall clock and breaking servers: run alone, not beside other tests
# (make test runs these after the parallel part).
pytestmark = pytest.mark.serial

RATE = 160.0
CONFIRM_TIMEOUT = 5.0  # the default: the contract's bound on every answer
# Beyond the confirm timeout, for a busy machine's scheduling: a request still unanswered
# then is one the receiver held.
ANSWER_GRACE = 3.0
# How long a node stays down before it is started again (which takes seconds more).
DOWN_FOR = 1.0
# Load before the first fault and after each restart.
SETTLE = 1.5

# One user per node URL, each with its own password: none may show anywhere.
NODE_PASSWORDS = [f"node{n}-pw-{secrets.token_hex(6)}" for n in (1, 2, 3)]
conftest.LOG_SCAN.secrets.update(NODE_PASSWORDS)


class Services:
    """The receiver and the worker, each its own process, logs in files."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.address = f"{settings.host}:{settings.port}"
        self.base_url = f"http://{self.address}"
        self.logs = [logs / "receiver.log", logs / "worker.log"]
        self.receiver = faults.spawn(settings, "receiver", log_path=self.logs[0])
        self.worker = faults.spawn(settings, "worker", log_path=self.logs[1])

    def wait_ready(self) -> None:
        """Wait until the receiver is ready and the worker consumes."""
        deadline = time.monotonic() + 90
        while not self._receiver_ready() or "worker.started" not in self.logs[1].read_text():
            assert self.still_running(), "".join(log.read_text()[-3000:] for log in self.logs)
            assert time.monotonic() < deadline, "the services did not start"
            time.sleep(0.2)

    def _receiver_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.address}/readyz", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    async def receiver_node(self, cluster: RabbitCluster) -> int:
        """The node the receiver publishes to, as its /readyz says."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.base_url}/readyz") as answer,
        ):
            return cluster.node_of((await answer.json())["broker_node"])

    def still_running(self) -> bool:
        """Neither process exited (and so neither was restarted)."""
        return self.receiver.poll() is None and self.worker.poll() is None

    def passwords_shown(self) -> list[str]:
        """The node passwords found in either log so far."""
        logs = "".join(log.read_text() for log in self.logs)
        return [password for password in NODE_PASSWORDS if password in logs]

    def stop(self) -> list[int]:
        """SIGTERM both; their exit codes."""
        return [faults.stop(process) for process in (self.receiver, self.worker)]


@dataclass(frozen=True)
class Deployment:
    """A receiver and a worker configured with every node of the cluster."""

    cluster: RabbitCluster
    vhost: str
    settings: Settings
    services: Services


@pytest.fixture(scope="module")
def deployment(
    rabbit_cluster: RabbitCluster, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """A vhost on the session's cluster, one user per node, and the two services started
    once for every scenario here: they must live through all the outages."""
    vhost = f"failover-{secrets.token_hex(4)}"
    rabbit_cluster.ctl(1, "add_vhost", vhost)
    urls = []
    for node, password in enumerate(NODE_PASSWORDS, start=1):
        user = f"confirmhub-{node}-{vhost}"
        rabbit_cluster.add_user(user, password, vhost)
        urls.append(rabbit_cluster.url(node, vhost, user, password))
    settings = Settings(
        amqp_url=SecretStr(",".join(urls)),
        database_url=SecretStr(postgres_url),
        port=free_port(),
        mcn_webhook_secret=SecretStr(WEBHOOK_SECRET),
        secrets_key=SecretStr(SECRETS_KEY),
        publish_confirm_timeout=CONFIRM_TIMEOUT,
        outbox_relay_interval=0.5,
        worker_retry_delays=RETRY_DELAYS,
    )
    services = Services(settings, tmp_path_factory.mktemp("failover"))
    try:
        services.wait_ready()
        yield Deployment(rabbit_cluster, vhost, settings, services)
    finally:
        exits = services.stop()
    assert exits == [0, 0], "a service did not shut down cleanly"


@pytest.fixture
async def tap(deployment: Deployment) -> AsyncIterator[tuple[BrokerConnection, str]]:
    """A downstream consumer's replicated queue on the events exchange, bound before the load,
    read through a connection of confirmhub's own, so that it follows the node failures."""
    broker = BrokerConnection(
        broker_nodes(deployment.settings.amqp_url.get_secret_value()), name="test tap"
    )
    await broker.open()
    name = f"test-tap-{secrets.token_hex(4)}"
    async with (await broker.current()).channel() as channel:
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(name, durable=True, arguments=quorum_arguments())
        await queue.bind(exchange, "#")
    yield broker, name
    async with (await broker.current()).channel() as channel:
        await channel.queue_delete(name)
    await broker.close()


def worker_node(cluster: RabbitCluster) -> int:
    """The node the worker is connected to, as RabbitMQ lists its connections."""
    for node in range(1, cluster.size + 1):
        try:
            listed = cluster.ctl(
                node, "list_connections", "port", "client_properties", "--formatter", "json"
            )
        except RuntimeError:
            continue
        for connection in json.loads(listed):
            properties = {name: value for name, _, value in connection["client_properties"]}
            if properties.get("connection_name") == "confirmhub worker":
                return int(connection["port"]) - cluster.port + 1
    raise AssertionError("the worker has no connection")


class Outages:
    """Takes nodes down one at a time, keeping each outage's window (monotonic clock)."""

    def __init__(self, cluster: RabbitCluster) -> None:
        self.cluster = cluster
        self.windows: list[tuple[float, float]] = []
        self.lost: list[str] = []

    async def lose(self, node: int, how: str) -> None:
        """Kill (``kill``) or stop (``stop``) a node, wait, start it again, let it settle."""
        self.lost.append(f"{how} node {node}")
        down_at = time.monotonic()
        await asyncio.to_thread(getattr(self.cluster, how), node)
        await asyncio.sleep(DOWN_FOR)
        await asyncio.to_thread(self.cluster.start, node)
        self.windows.append((down_at, time.monotonic()))
        await asyncio.sleep(SETTLE)


async def events_by_call(
    broker: BrokerConnection, tap: str, calls: set[str]
) -> dict[str, set[str]]:
    """Read the tap until every call in ``calls`` has an event; each call's event ids."""
    seen: dict[str, set[str]] = collections.defaultdict(set)

    async def take(message: AbstractIncomingMessage) -> None:
        call = orjson.loads(message.body)["data"]["verification_call_uuid"]
        assert message.message_id is not None
        seen[call].add(message.message_id)

    async with (await broker.current()).channel() as channel:
        await channel.set_qos(prefetch_count=1000)
        queue = await channel.get_queue(tap, ensure=False)
        await queue.consume(take, no_ack=True)
        await eventually(lambda: calls <= seen.keys(), timeout=120, interval=0.2)
        await asyncio.sleep(1.5)  # anything published late arrives now
    return seen


async def run_under_load(
    deployment: Deployment,
    tap: tuple[BrokerConnection, str],
    outage: Callable[[Services, Outages], Awaitable[None]],
) -> None:
    """Post CDRs while ``outage`` runs, and check what senders and consumers observe."""
    services = deployment.services
    outages = Outages(deployment.cluster)
    async with CdrLoad(
        services.base_url, secret=WEBHOOK_SECRET, rate=RATE, timeout=CONFIRM_TIMEOUT + ANSWER_GRACE
    ) as load:
        await asyncio.sleep(SETTLE)
        await outage(services, outages)
    figures = load.figures(outages.windows)
    figures["outages"] = outages.lost

    statuses = collections.Counter(answer.status for answer in load.answers)
    assert set(statuses) <= {202, 503}, f"unanswered (None) or another status: {statuses}"
    during = [answer for start, end in outages.windows for answer in load.between(start, end)]
    assert sum(answer.status == 202 for answer in during) >= 0.95 * len(during), figures

    calls = {answer.call for answer in load.answers if answer.status == 202}
    drain_started = time.monotonic()
    events = await events_by_call(*tap, calls)
    figures["all_events_in_s"] = round(time.monotonic() - drain_started, 1)
    print(f"failover figures: {json.dumps(figures)}")
    assert [call for call in calls if len(events[call]) != 1] == []
    async with (await tap[0].current()).channel() as channel:
        dead = await channel.get_queue(DEAD_LETTER_QUEUE, ensure=False)
        assert await dead.get(no_ack=True, fail=False) is None
    assert services.still_running(), "a service exited during the failover"
    assert services.passwords_shown() == []


async def test_the_worker_queue_leader_killed_then_restarted(
    deployment: Deployment, tap: tuple[BrokerConnection, str]
) -> None:
    async def outage(_services: Services, outages: Outages) -> None:
        leader = await asyncio.to_thread(outages.cluster.leader, MCN_CDR_QUEUE, deployment.vhost)
        await outages.lose(leader, "kill")

    await run_under_load(deployment, tap, outage)


async def test_the_node_each_process_is_on_shut_down_gracefully(
    deployment: Deployment, tap: tuple[BrokerConnection, str]
) -> None:
    async def outage(services: Services, outages: Outages) -> None:
        await outages.lose(await services.receiver_node(outages.cluster), "stop")
        await outages.lose(await asyncio.to_thread(worker_node, outages.cluster), "stop")

    await run_under_load(deployment, tap, outage)


async def test_two_nodes_killed_in_turn(
    deployment: Deployment, tap: tuple[BrokerConnection, str]
) -> None:
    async def outage(services: Services, outages: Outages) -> None:
        first = await services.receiver_node(outages.cluster)
        await outages.lose(first, "kill")
        second = await asyncio.to_thread(worker_node, outages.cluster)
        if second == first:
            second = first % outages.cluster.size + 1
        await outages.lose(second, "kill")

    await run_under_load(deployment, tap, outage)


async def test_a_publish_right_after_its_queue_leader_died_is_confirmed(
    deployment: Deployment,
) -> None:
    cluster = deployment.cluster
    broker = BrokerConnection(
        broker_nodes(deployment.settings.amqp_url.get_secret_value()), name="test publisher"
    )
    await broker.open()
    assert broker.node is not None
    node = cluster.node_of(broker.node.name)
    queue = f"test-leader-{secrets.token_hex(4)}"
    try:
        # Declared through this node, the queue is led from it.
        async with (await broker.current()).channel() as channel:
            await channel.declare_queue(queue, durable=True, arguments=quorum_arguments())
        assert await asyncio.to_thread(cluster.leader, queue, deployment.vhost) == node
        publisher = ConfirmingPublisher(broker, confirm_timeout=CONFIRM_TIMEOUT)
        name = broker.node.name

        def moved() -> bool:
            current = broker.node
            return broker.connected.is_set() and current is not None and current.name != name

        killing = asyncio.create_task(asyncio.to_thread(cluster.kill, node))
        await eventually(moved, interval=0.005)
        # The connection moved to a surviving node at once; a channel opened there before the
        # queue's new leader is known nacks every publish: the publisher must take a new one.
        await publisher.publish(exchange="", routing_key=queue, body=b"{}", message_id="m")
        await killing
    finally:
        await asyncio.to_thread(cluster.start, node)
        async with (await broker.current()).channel() as channel:
            await channel.queue_delete(queue)
        await broker.close()


def test_no_node_password_in_config_or_errors(deployment: Deployment) -> None:
    shown = faults.run_cli(deployment.settings, "config")
    assert shown.returncode == 0
    unreachable = deployment.settings.model_copy(
        update={
            "amqp_url": SecretStr(
                ",".join(
                    f"amqp://user{n}:{password}@127.0.0.1:{free_port()}/v"
                    for n, password in enumerate(NODE_PASSWORDS, start=1)
                )
            )
        }
    )
    failed = faults.run_cli(unreachable, "dlq", "list")
    assert failed.returncode == 1
    assert "cannot reach RabbitMQ at any of 3 node(s)" in failed.stderr
    output = shown.stdout + shown.stderr + failed.stdout + failed.stderr
    assert [password for password in NODE_PASSWORDS if password in output] == []
    assert json.loads(shown.stdout)["amqp_url"].count("***") == 3

"""The broker connection: one AMQP connection at a time, to any node of a RabbitMQ cluster.

aio-pika's robust connection follows one URL and waits a fixed interval between attempts.
Here the rotation over the cluster's nodes lives in one place: every process (receiver,
worker, CLI tools) opens a ``BrokerConnection``, which connects to one node (in shuffled
order, so that processes spread over the cluster) and, the moment that connection is lost,
connects to the next node; it backs off only after every node has refused in turn. What
lives on a connection (channels, consumers) is set up again by callbacks registered with
``on_each_connection``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from yarl import URL

from confirmhub.errors import BrokerUnavailable

log = structlog.get_logger("confirmhub.broker")

# Seconds between heartbeats unless a URL sets ``heartbeat``: the broker drops a silent client
# after two intervals (10 s), the client a silent broker after (interval + 1) * 3 (18 s, as
# aiormq counts); RabbitMQ advises against values under 5, which risk false alarms. A dead
# node's closed socket is noticed at once: heartbeats are for a node that hangs.
DEFAULT_HEARTBEAT = 5
# One node's TCP connect and AMQP handshake; a node that takes longer is skipped for the next.
CONNECT_TIMEOUT = 3.0
# Pauses between rounds once every node has refused: doubling, with jitter, up to the cap.
FIRST_BACKOFF = 0.25
MAX_BACKOFF = 5.0

ConnectionSetup = Callable[[AbstractConnection], Awaitable[None]]


class _ReportedHere(logging.Filter):
    """Drops aiormq's lines for what this module reports itself, in its own terms: a failed
    connection attempt (trying the next node is the normal course) and a lost connection
    (with a traceback of aiormq's reader, where one line says it all)."""

    _OWN = ("error when creating transport", "Cancelling cause reader exited abnormally")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self._OWN)


logging.getLogger("aiormq.connection").addFilter(_ReportedHere())


@dataclass(frozen=True, slots=True)
class BrokerNode:
    """One cluster node: its AMQP URL (a secret: it may hold a password) and a safe name."""

    url: URL
    name: str

    def __repr__(self) -> str:
        return f"BrokerNode({self.name})"


def broker_nodes(amqp_url: str) -> list[BrokerNode]:
    """The nodes of ``CONFIRMHUB_AMQP_URL``: one URL, or a comma-separated list of them."""
    nodes = []
    for position, text in enumerate(amqp_url.split(","), start=1):
        # The message never quotes the URL: it may hold a password.
        malformed = f"AMQP URL #{position} must look like amqp://user:password@host:port/vhost"
        try:
            url = URL(text.strip())
            port = url.port or (5671 if url.scheme == "amqps" else 5672)
        except ValueError:
            raise ValueError(malformed) from None
        if url.scheme not in {"amqp", "amqps"} or not url.host:
            raise ValueError(malformed)
        if "heartbeat" not in url.query:
            url = url.update_query(heartbeat=DEFAULT_HEARTBEAT)
        # Host and port name a node without user, password or query (which can hold
        # TLS key paths); the vhost is the same on every node.
        nodes.append(BrokerNode(url=url, name=f"{url.host}:{port}"))
    return nodes


def _alive(connection: AbstractConnection | None) -> bool:
    transport = connection.transport if connection is not None else None
    return transport is not None and not transport.connection.is_closed


class BrokerConnection:
    """One AMQP connection at a time, to one node of a cluster, moved to another on loss.

    ``connected`` is set while a live connection exists and ``node`` names its node.
    ``current()`` waits for one: callers bound that wait by their own deadlines.
    """

    def __init__(self, nodes: Sequence[BrokerNode], *, name: str) -> None:
        if not nodes:
            raise ValueError("no broker node given")
        # Shuffled once: processes spread over the nodes, and each keeps one order to cycle.
        self._nodes = random.sample(list(nodes), k=len(nodes))
        self._name = name
        self._next = 0
        self._connection: AbstractConnection | None = None
        self._setups: list[ConnectionSetup] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._closing: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()
        self.node: BrokerNode | None = None

    @property
    def nodes(self) -> Sequence[BrokerNode]:
        """Every configured node, in this connection's order."""
        return tuple(self._nodes)

    async def open(self) -> None:
        """Connect to the first node that answers; BrokerUnavailable naming each if none."""
        failures: list[str] = []
        connection = await self._connect_round(failures)
        if connection is None:
            raise BrokerUnavailable(
                f"cannot reach RabbitMQ at any of {len(self._nodes)} node(s) "
                f"({'; '.join(failures)}); start it (rabbitmq-server -detached) "
                "or set CONFIRMHUB_AMQP_URL"
            )
        self._adopt(connection)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"{self._name} broker")

    async def close(self) -> None:
        """Stop reconnecting and close the connection."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        self.connected.clear()
        connection, self._connection = self._connection, None
        if connection is not None:
            await _close_quietly(connection)

    async def current(self) -> AbstractConnection:
        """The live connection, once there is one."""
        while True:
            connection = self._connection
            if connection is not None and _alive(connection):
                return connection
            if connection is not None:
                self._lost.set()  # the loss may not have been noticed yet
            self.connected.clear()
            await self.connected.wait()

    async def on_each_connection(self, setup: ConnectionSetup) -> None:
        """Run ``setup`` on the current connection now, then on every later one.

        A failing later setup marks its connection as lost, so that the next node is tried.
        """
        self._setups.append(setup)
        await setup(await self.current())

    def _adopt(self, connection: AbstractConnection) -> None:
        self._connection = connection
        self._lost.clear()
        self.connected.set()

    async def _supervise(self) -> None:
        while True:
            connection = self._connection
            assert connection is not None
            assert connection.transport is not None
            closing = connection.transport.connection.closing
            lost = asyncio.ensure_future(self._lost.wait())
            await asyncio.wait([closing, lost], return_when=asyncio.FIRST_COMPLETED)
            lost.cancel()
            self.connected.clear()
            log.warning(
                "broker.connection_lost",
                node=self._node_name(),
                connection=self._name,
                reason=_reason(closing),
            )
            # Closing a half-dead connection can take a while: not in the way of the next.
            closing_task = asyncio.create_task(_close_quietly(connection))
            self._closing.add(closing_task)
            closing_task.add_done_callback(self._closing.discard)
            await self._reconnect()

    async def _reconnect(self) -> None:
        pause = FIRST_BACKOFF
        while True:
            failures: list[str] = []
            connection = await self._connect_round(failures)
            if connection is not None:
                self._adopt(connection)
                if await self._run_setups(connection):
                    return
                self.connected.clear()
                await _close_quietly(connection)
            else:
                log.warning("broker.all_nodes_down", attempts=failures, retry_in=round(pause, 2))
            await asyncio.sleep(pause * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
            pause = min(pause * 2, MAX_BACKOFF)

    async def _run_setups(self, connection: AbstractConnection) -> bool:
        for setup in self._setups:
            try:
                await setup(connection)
            except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
                log.warning("broker.setup_failed", node=self._node_name(), error=type(exc).__name__)
                return False
            except Exception as exc:
                # A bug, logged with its traceback; the rotation must go on all the same.
                log.exception(
                    "broker.setup_failed", node=self._node_name(), error=type(exc).__name__
                )
                return False
        return True

    async def _connect_round(self, failures: list[str]) -> AbstractConnection | None:
        """Try each node once, starting after the last one used; the first that answers."""
        for _ in self._nodes:
            node = self._nodes[self._next]
            self._next = (self._next + 1) % len(self._nodes)
            try:
                connection = await aio_pika.connect(
                    node.url,
                    timeout=CONNECT_TIMEOUT,
                    client_properties={"connection_name": self._name},
                )
            except Exception as exc:  # whatever it was, the next node may do
                failures.append(f"{node.name}: {type(exc).__name__}")
                continue
            # ``_next`` now points past this node: once it is lost, the others come first.
            # The first connection is the process's own news to tell (a CLI tool has none).
            self.node, first = node, self._connection is None
            (log.debug if first else log.info)(
                "broker.connected", node=node.name, connection=self._name, skipped=failures
            )
            return connection
        self.node = None
        return None

    def _node_name(self) -> str | None:
        return self.node.name if self.node is not None else None


def _reason(closing: asyncio.Future[object]) -> str:
    if not closing.done():
        return "found unusable"
    if closing.cancelled() or closing.exception() is None:
        return "closed"
    exc = closing.exception()
    # aiormq's messages name the socket error or the broker's close reason, never the URL.
    return f"{type(exc).__name__}: {exc}"[:200]


async def _close_quietly(connection: AbstractConnection) -> None:
    with contextlib.suppress(*CONNECTION_EXCEPTIONS, TimeoutError, aiormq.AMQPError):
        await asyncio.wait_for(connection.close(), timeout=CONNECT_TIMEOUT)

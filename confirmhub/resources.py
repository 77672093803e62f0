"""Opening the database and the broker, with one clear error when either is missing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, ChannelPreconditionFailed
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.broker import declare_topology
from confirmhub.broker_connection import BrokerConnection, broker_nodes
from confirmhub.db.engine import create_engine
from confirmhub.db.migrate import current_revision, head_revision
from confirmhub.errors import BrokerUnavailable, DatabaseUnavailable
from confirmhub.redact import redact_url
from confirmhub.settings import Settings


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine whose database is reachable and migrated to the code's head."""
    url = settings.database_url.get_secret_value()
    engine = create_engine(url)
    try:
        try:
            revision = await asyncio.wait_for(current_revision(engine), timeout=15)
        except Exception as exc:
            raise DatabaseUnavailable(
                f"cannot reach the database at {redact_url(url)} ({type(exc).__name__}); "
                "start it or set CONFIRMHUB_DATABASE_URL"
            ) from exc
        if revision != head_revision():
            raise DatabaseUnavailable(
                f"the database at {redact_url(url)} is at schema {revision or 'none'}, "
                f"the code needs {head_revision()}: run `confirmhub migrate`"
            )
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def open_broker(settings: Settings, *, role: str) -> AsyncIterator[BrokerConnection]:
    """A connection to a node of the configured broker, the topology declared on each.

    ``role`` names the connection in RabbitMQ's connection list (``confirmhub <role>``).
    """
    broker = BrokerConnection(
        broker_nodes(settings.amqp_url.get_secret_value()), name=f"confirmhub {role}"
    )

    async def declare(connection: AbstractConnection) -> None:
        # On every connection, not only the first: a queue deleted meanwhile comes back.
        async with connection.channel() as channel:
            await declare_topology(channel, retry_delays=settings.worker_retry_delays)

    await broker.open()
    try:
        try:
            await broker.on_each_connection(declare)
        except ChannelPreconditionFailed as exc:
            raise BrokerUnavailable(
                f"RabbitMQ refused the topology ({exc}); a queue or exchange exists with "
                "other arguments: delete it, or point CONFIRMHUB_AMQP_URL at another vhost"
            ) from exc
        except CONNECTION_EXCEPTIONS as exc:
            raise BrokerUnavailable(
                f"RabbitMQ failed while the topology was declared ({type(exc).__name__}); "
                "start again"
            ) from exc
        yield broker
    finally:
        await broker.close()

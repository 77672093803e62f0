"""Opening the database and the broker, with one clear error when either is missing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aio_pika.exceptions import ChannelPreconditionFailed
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.broker import connect, declare_topology
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
async def open_broker(settings: Settings) -> AsyncIterator[AbstractRobustConnection]:
    """A robust broker connection with the topology declared."""
    connection = await connect(settings.amqp_url.get_secret_value())
    try:
        channel: AbstractChannel = await connection.channel()
        try:
            await declare_topology(channel, retry_delays=settings.worker_retry_delays)
        except ChannelPreconditionFailed as exc:
            raise BrokerUnavailable(
                f"RabbitMQ refused the topology ({exc}); a queue or exchange exists with "
                "other arguments: delete it, or point CONFIRMHUB_AMQP_URL at another vhost"
            ) from exc
        await channel.close()
        yield connection
    finally:
        await connection.close()

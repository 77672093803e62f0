"""Trying confirmhub out: a sample webhook to a running receiver, a call's stored state."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp
import orjson

from confirmhub.db.store import Store
from confirmhub.errors import ConfirmhubError
from confirmhub.resources import open_database
from confirmhub.settings import Settings

# q931_status and final_status that produce each outcome, per MCN's table.
SAMPLE_CDRS: dict[str, tuple[int, str]] = {
    "answered": (16, "ANSWER"),
    "busy": (17, "CANCEL"),
    "no_answer": (16, "CANCEL"),
    "rejected": (31, "CANCEL"),
    "billing_failed": (41, "CANCEL"),
    "unavailable": (1, "CANCEL"),
}


async def send_test_webhook(settings: Settings, *, outcome: str, url: str | None) -> dict[str, Any]:
    """POST a sample MCN CDR with a fresh call id to the receiver; what it answered."""
    if settings.mcn_webhook_secret is None:
        raise ConfirmhubError(
            "set CONFIRMHUB_MCN_WEBHOOK_SECRET: the receiver refuses all without it"
        )
    q931_status, final_status = SAMPLE_CDRS[outcome]
    call_uuid = f"{secrets.token_hex(6)}_100000"
    target = url or f"http://{settings.host}:{settings.port}"
    body = {
        "verification_call_uuid": call_uuid,
        "q931_status": str(q931_status),
        "final_status": final_status,
    }
    headers = {"Authorization": f"Bearer {settings.mcn_webhook_secret.get_secret_value()}"}
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{target.rstrip('/')}/webhooks/mcn/password-call", json=body, headers=headers
            ) as response,
        ):
            answer = await response.read()
            status = response.status
    except aiohttp.ClientError as exc:
        raise ConfirmhubError(
            f"no receiver answered at {target} ({exc}); start `confirmhub run`"
        ) from exc
    return {
        "verification_call_uuid": call_uuid,
        "status": status,
        "response": orjson.loads(answer) if answer else None,
    }


async def call_status(settings: Settings, verification_call_uuid: str) -> dict[str, Any]:
    """The stored state of one password call, as the API shows it."""
    from confirmhub.db.sms_attempts import call_attempts
    from receiver.api.password_calls import password_call_view

    async with open_database(settings) as engine:
        store = Store(engine)
        record = await store.get_password_call(verification_call_uuid)
        async with store.reading() as connection:
            attempts = await call_attempts(connection, verification_call_uuid)
    if record is None:
        raise ConfirmhubError(f"no password call {verification_call_uuid!r}")
    view: dict[str, Any] = password_call_view(record, attempts).model_dump(mode="json")
    return view


async def tail_events(
    settings: Settings, *, routing_key: str, count: int | None, seconds: float | None
) -> int:
    """Print downstream events as a consumer would see them; how many were printed."""
    import asyncio
    import sys

    from aio_pika.abc import AbstractConnection, AbstractIncomingMessage, ExchangeType

    from confirmhub.resources import open_broker
    from schemas.events import EVENTS_EXCHANGE

    events: asyncio.Queue[bytes] = asyncio.Queue()

    async def bind(connection: AbstractConnection) -> None:
        # An exclusive queue lives as long as its connection: bound again on each one.
        channel = await connection.channel()
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key)

        async def deliver(message: AbstractIncomingMessage) -> None:
            await events.put(message.body)

        await queue.consume(deliver, no_ack=True)

    printed = 0
    async with open_broker(settings, role="tail-events") as broker:
        await broker.on_each_connection(bind)
        print(f"listening on {EVENTS_EXCHANGE} for {routing_key!r}", file=sys.stderr, flush=True)
        try:
            async with asyncio.timeout(seconds):
                while count is None or printed < count:
                    print((await events.get()).decode(), flush=True)
                    printed += 1
        except TimeoutError:
            pass
    return printed

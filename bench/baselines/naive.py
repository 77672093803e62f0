"""Baseline (b): the obvious aiohttp + aio-pika webhook receiver.

What one writes in an afternoon: validate the body with pydantic, publish it persistent to a
quorum queue on a channel with publisher confirms, answer 202. No request ids, log lines,
metrics, problem+json, batches or bounded reads: the comparison shows what those cost.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator

import aio_pika
from aio_pika.abc import AbstractExchange, DeliveryMode, ExchangeType
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from bench.baselines import new_loop

EXCHANGE = "naive.inbound"
QUEUES = {"naive.mcn-cdr": "mcn.password_call.cdr", "naive.bitrix24": "bitrix24.method_confirm"}

EXCHANGE_KEY = web.AppKey("exchange", AbstractExchange)
AMQP_URL = web.AppKey("amqp_url", str)
SECRET = web.AppKey("secret", str)
PORTALS = web.AppKey("portals", dict[str, str])


class Cdr(BaseModel):
    """An MCN CDR."""

    verification_call_uuid: str
    q931_status: int
    final_status: str | None = None


class MethodConfirm(BaseModel):
    """A Bitrix24 ONAPPMETHODCONFIRM form, flat as it is posted."""

    event: str
    token: str = Field(alias="data[TOKEN]")
    method: str = Field(alias="data[METHOD]")
    confirmed: bool = Field(alias="data[CONFIRMED]")
    member_id: str = Field(alias="auth[member_id]")
    application_token: str = Field(alias="auth[application_token]")


async def publish(request: web.Request, routing_key: str, model: BaseModel) -> web.Response:
    """Publish persistent, wait for the broker's confirm, answer 202."""
    message = aio_pika.Message(
        model.model_dump_json().encode(),
        content_type="application/json",
        delivery_mode=DeliveryMode.PERSISTENT,
    )
    await request.app[EXCHANGE_KEY].publish(message, routing_key=routing_key)
    return web.json_response({"accepted": 1}, status=202)


def invalid(exc: ValidationError) -> web.Response:
    """422 with pydantic's own error list."""
    return web.json_response({"errors": json.loads(exc.json(include_input=False))}, status=422)


async def mcn_cdr(request: web.Request) -> web.Response:
    """``POST /webhooks/mcn/password-call``."""
    if request.headers.get("Authorization") != f"Bearer {request.app[SECRET]}":
        raise web.HTTPUnauthorized
    try:
        cdr = Cdr.model_validate_json(await request.read())
    except ValidationError as exc:
        return invalid(exc)
    return await publish(request, QUEUES["naive.mcn-cdr"], cdr)


async def bitrix24(request: web.Request) -> web.Response:
    """``POST /webhooks/bitrix24``."""
    try:
        event = MethodConfirm.model_validate(dict(await request.post()))
    except ValidationError as exc:
        return invalid(exc)
    if request.app[PORTALS].get(event.member_id) != event.application_token:
        raise web.HTTPUnauthorized
    return await publish(request, QUEUES["naive.bitrix24"], event)


async def healthz(_request: web.Request) -> web.Response:
    """Alive."""
    return web.Response(text="ok")


async def broker(app: web.Application) -> AsyncIterator[None]:
    """Connect, declare the exchange and quorum queues, keep one confirming channel."""
    connection = await aio_pika.connect_robust(app[AMQP_URL])
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange(EXCHANGE, ExchangeType.TOPIC, durable=True)
    for name, routing_key in QUEUES.items():
        queue = await channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing_key)
    app[EXCHANGE_KEY] = exchange
    yield
    await connection.close()


def create_app(*, amqp_url: str, secret: str, portals: dict[str, str]) -> web.Application:
    """The naive receiver."""
    app = web.Application()
    app[AMQP_URL] = amqp_url
    app[SECRET] = secret
    app[PORTALS] = portals
    app.cleanup_ctx.append(broker)
    app.router.add_post("/webhooks/mcn/password-call", mcn_cdr)
    app.router.add_post("/webhooks/bitrix24", bitrix24)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    """Serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--secret", required=True, help="the MCN webhook secret")
    parser.add_argument("--portals", default="{}", help="JSON {member_id: application_token}")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    app = create_app(amqp_url=args.amqp_url, secret=args.secret, portals=json.loads(args.portals))
    web.run_app(app, host="127.0.0.1", port=args.port, loop=new_loop(args.loop))


if __name__ == "__main__":
    main()

"""The receiver's application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from confirmhub.broker import ConfirmingPublisher
from confirmhub.crypto import SecretsBox
from confirmhub.db.store import Store
from confirmhub.outbox import OutboxRelay
from confirmhub.resources import open_broker, open_database
from confirmhub.settings import Settings
from confirmhub.sms.base import RECEIPT_PATH
from receiver import health
from receiver.access import authorize
from receiver.api import api_keys as api_keys_api
from receiver.api import bitrix24 as bitrix24_api
from receiver.api import password_calls as password_calls_api
from receiver.api import providers as confirmations_api
from receiver.api.mcn_client import McnClient
from receiver.callers import CallerDirectory
from receiver.docs import handlers as docs
from receiver.keys import (
    BROKER,
    CALLERS,
    CDR_QUEUE,
    MCN_CLIENT,
    METHOD_CONFIRM_QUEUE,
    PORTALS,
    PUBLISHER,
    RECEIPT_DESK,
    RELAY,
    SETTINGS,
    STORE,
)
from receiver.middleware import request_context
from receiver.webhooks import bitrix24 as bitrix24_webhook
from receiver.webhooks import mcn as mcn_webhook
from receiver.webhooks import sms_receipts
from receiver.webhooks.inbound_queue import InboundQueue
from receiver.webhooks.portals import PortalDirectory
from receiver.webhooks.receipt_desk import ReceiptDesk
from schemas.bitrix24 import BITRIX24_METHOD_CONFIRM_ROUTING_KEY
from schemas.inbound import CDR_MESSAGES, MCN_CDR_ROUTING_KEY, METHOD_CONFIRM_MESSAGES

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with open_database(settings) as engine:
        app[STORE] = Store(engine)
        app[PORTALS] = PortalDirectory(
            app[STORE],
            trust_install=settings.bitrix24_trust_install,
            cache_seconds=settings.bitrix24_token_cache_seconds,
        )
        await app[PORTALS].load_configured(settings.bitrix24_application_tokens)
        app[CALLERS] = CallerDirectory(
            app[STORE],
            admin_token=settings.admin_token,
            cache_seconds=settings.api_key_cache_seconds,
        )
        yield


async def _broker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with open_broker(settings, role="receiver") as broker:
        app[BROKER] = broker
        app[PUBLISHER] = ConfirmingPublisher(
            broker, confirm_timeout=settings.publish_confirm_timeout
        )
        app[CDR_QUEUE] = InboundQueue(
            app[PUBLISHER], routing_key=MCN_CDR_ROUTING_KEY, codec=CDR_MESSAGES
        )
        app[METHOD_CONFIRM_QUEUE] = InboundQueue(
            app[PUBLISHER],
            routing_key=BITRIX24_METHOD_CONFIRM_ROUTING_KEY,
            codec=METHOD_CONFIRM_MESSAGES,
        )
        app[RELAY] = OutboxRelay(app[STORE], app[PUBLISHER])
        yield


async def _mcn_client(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # A fresh connection per call: a request sent on a kept-alive connection that MCN had
    # just closed fails in a way that cannot tell whether MCN got it, and a paid call in doubt
    # holds its number; a handshake per call costs far less than that.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, raise_for_status=False) as session:
        app[MCN_CLIENT] = McnClient(
            session,
            base_url=settings.mcn_api_url,
            token=settings.mcn_api_token,
            timeout=settings.mcn_api_timeout,
        )
        yield


async def _sms_receipts(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # A fresh connection per request, as the worker's sends use: only SMSAero's status
    # queries go out, and they are few.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, raise_for_status=False) as session:
        app[RECEIPT_DESK] = ReceiptDesk(
            app[STORE],
            app[RELAY],
            box=SecretsBox(settings.secrets_key),
            session=session,
            timeout=settings.sms_timeout,
        )
        yield


def create_app(
    settings: Settings, *, extra_contexts: tuple[CleanupContext, ...] = ()
) -> web.Application:
    """Build the receiver: routes, middlewares, and one cleanup context per connection."""
    # aiohttp's own limit is a backstop; handlers enforce the real one while reading.
    app = web.Application(
        middlewares=[request_context, authorize],
        client_max_size=settings.max_body_bytes + 1,
    )
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([_database, _broker, _mcn_client, _sms_receipts, *extra_contexts])
    app.router.add_post("/webhooks/mcn/password-call", mcn_webhook.receive_cdr)
    app.router.add_post("/webhooks/bitrix24", bitrix24_webhook.receive_event)
    for provider_type, handler in (
        ("twilio", sms_receipts.receive_twilio_receipt),
        ("vonage", sms_receipts.receive_vonage_receipt),
        ("smsaero", sms_receipts.receive_smsaero_receipt),
    ):
        path = RECEIPT_PATH.format(provider_type=provider_type, provider_id="{provider_id:[0-9]+}")
        app.router.add_post(path, handler)
    app.router.add_put("/api/v1/method-confirmations", bitrix24_api.register_method_confirmation)
    app.router.add_get(
        "/api/v1/method-confirmations/{member_id}/{token_sha256}/{method}",
        bitrix24_api.get_method_confirmation,
    )
    app.router.add_put("/api/v1/bitrix24/portals/{member_id}", bitrix24_api.put_portal)
    app.router.add_delete("/api/v1/bitrix24/portals/{member_id}", bitrix24_api.delete_portal)
    app.router.add_post("/api/v1/password-calls", password_calls_api.create_password_call)
    app.router.add_get(
        "/api/v1/password-calls/{verification_call_uuid}", password_calls_api.get_password_call
    )
    app.router.add_post(
        "/api/v1/password-calls/{verification_call_uuid}/check", password_calls_api.check_code
    )
    app.router.add_post(
        "/api/v1/password-calls/{verification_call_uuid}/cancel",
        password_calls_api.cancel_password_call,
    )
    app.router.add_post("/api/v1/api-keys", api_keys_api.create_api_key)
    app.router.add_get("/api/v1/api-keys", api_keys_api.list_api_keys)
    app.router.add_delete("/api/v1/api-keys/{id}", api_keys_api.delete_api_key)
    confirmations_api.add_routes(app.router)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_get("/api/openapi.json", docs.openapi_json)
    app.router.add_get("/api/asyncapi.json", docs.asyncapi_json)
    app.router.add_get("/api/docs", docs.docs_page)
    return app

"""Typed app keys: the dependencies ``create_app`` puts on the application."""

from __future__ import annotations

from aiohttp import web

from confirmhub.broker import ConfirmingPublisher
from confirmhub.broker_connection import BrokerConnection
from confirmhub.db.store import Store
from confirmhub.outbox import OutboxRelay
from confirmhub.settings import Settings
from receiver.api.mcn_client import McnClient
from receiver.callers import CallerDirectory
from receiver.webhooks.inbound_queue import InboundQueue
from receiver.webhooks.portals import PortalDirectory
from receiver.webhooks.receipt_desk import ReceiptDesk
from schemas.bitrix24 import InboundMethodConfirm
from schemas.inbound import InboundCdr

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
PUBLISHER = web.AppKey("publisher", ConfirmingPublisher)
CDR_QUEUE = web.AppKey("cdr_queue", InboundQueue[InboundCdr])
METHOD_CONFIRM_QUEUE = web.AppKey("method_confirm_queue", InboundQueue[InboundMethodConfirm])
BROKER = web.AppKey("broker", BrokerConnection)
MCN_CLIENT = web.AppKey("mcn_client", McnClient)
PORTALS = web.AppKey("portals", PortalDirectory)
RELAY = web.AppKey("relay", OutboxRelay)
CALLERS = web.AppKey("callers", CallerDirectory)
RECEIPT_DESK = web.AppKey("receipt_desk", ReceiptDesk)

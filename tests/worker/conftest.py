"""Fixtures of the worker tests: the fake SMS providers on loopback, and what they send."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aio_pika.abc import AbstractChannel
from pytest_aiohttp import AiohttpServer

from tests.helpers import EventTap
from tests.sms_fakes import FakeSmsAero, FakeTwilio, FakeVonage
from tests.worker.sms_support import serve


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for adapters under test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def twilio(aiohttp_server: AiohttpServer) -> FakeTwilio:
    """Twilio's Messages API on loopback."""
    return await serve(aiohttp_server, FakeTwilio())


@pytest.fixture
async def vonage(aiohttp_server: AiohttpServer) -> FakeVonage:
    """Vonage's SMS API on loopback."""
    return await serve(aiohttp_server, FakeVonage())


@pytest.fixture
async def smsaero(aiohttp_server: AiohttpServer) -> FakeSmsAero:
    """SMSAero's v2 API on loopback."""
    return await serve(aiohttp_server, FakeSmsAero())


@pytest.fixture
async def sms_events(channel: AbstractChannel) -> EventTap:
    """A downstream consumer of the SMS fallback's events."""
    return await EventTap.bind(channel, "password_call.sms_sent", "password_call.sms_failed")

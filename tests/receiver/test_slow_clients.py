"""Slow and vanishing clients, on raw sockets against the receiver as it is served.

A request must fully arrive within ``CONFIRMHUB_CLIENT_TIMEOUT_SECONDS``; a client that
hangs up mid-request is a client disconnect (status 499), never a dependency outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from confirmhub.settings import Settings
from receiver.app import create_app
from receiver.server import ReceiverRunner
from tests.conftest import WEBHOOK_SECRET
from tests.helpers import eventually, metric

CLIENT_TIMEOUT = 1.0
# The cut-off must come within this of the timeout, however busy the machine is.
MARGIN = 5.0
CDR_PATH = "/webhooks/mcn/password-call"


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[str, int]]:
    """The receiver behind the runner the service uses, with a short client timeout."""
    settings = settings.model_copy(update={"client_timeout_seconds": CLIENT_TIMEOUT})
    runner = ReceiverRunner(create_app(settings), client_timeout=CLIENT_TIMEOUT, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield host, port
    finally:
        await runner.cleanup()


def _head(length: int) -> bytes:
    return (
        f"POST {CDR_PATH} HTTP/1.1\r\n"
        "Host: receiver\r\n"
        f"Authorization: Bearer {WEBHOOK_SECRET}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {length}\r\n"
        "\r\n"
    ).encode()


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    async with asyncio.timeout(CLIENT_TIMEOUT + MARGIN):
        while chunk := await reader.read(65536):
            received += chunk
    return received


def _request_lines(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == "http.request"]


async def _logged(logs: list[MutableMapping[str, Any]], event: str) -> None:
    await eventually(lambda: any(entry["event"] == event for entry in logs), timeout=MARGIN)


async def test_a_client_hanging_up_mid_body_is_a_client_disconnect(
    served: tuple[str, int],
) -> None:
    with capture_logs() as logs:
        _, writer = await asyncio.open_connection(*served)
        writer.write(_head(400) + b'{"verification_call_uuid": "')
        await writer.drain()
        await asyncio.sleep(0.2)  # the handler is reading the body by now
        writer.close()
        await writer.wait_closed()
        await _logged(logs, "http.request")

    [line] = _request_lines(logs)
    assert line["status"] == 499
    assert line["route"] == CDR_PATH
    assert any(entry["event"] == "request.client_disconnected" for entry in logs)
    assert not any(entry["event"] == "request.dependency_unavailable" for entry in logs)


async def test_a_head_trickling_past_the_timeout_is_answered_408_and_closed(
    served: tuple[str, int],
) -> None:
    labels = {"route": "unmatched", "method": "", "status": "408"}
    before = metric("confirmhub_http_requests_total", **labels)
    reader, writer = await asyncio.open_connection(*served)
    writer.write(b"POST " + CDR_PATH.encode())
    await writer.drain()
    received = await _read_until_closed(reader)
    writer.close()

    assert received.startswith(b"HTTP/1.1 408 ")
    assert metric("confirmhub_http_requests_total", **labels) == before + 1


async def test_a_connection_sending_nothing_is_closed_after_the_timeout(
    served: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*served)
    received = await _read_until_closed(reader)
    writer.close()

    assert received.startswith(b"HTTP/1.1 408 ")


async def test_a_body_trickling_past_the_timeout_ends_in_408(served: tuple[str, int]) -> None:
    with capture_logs() as logs:
        reader, writer = await asyncio.open_connection(*served)
        writer.write(_head(400) + b"[")
        await writer.drain()
        await _read_until_closed(reader)
        writer.close()
        await _logged(logs, "http.request")

    [line] = _request_lines(logs)
    assert line["status"] == 408
    assert line["error"] == "RequestTimedOut"
    assert not any(entry["event"] == "request.dependency_unavailable" for entry in logs)


async def test_an_idle_kept_alive_connection_is_not_a_slow_request(
    served: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*served)
    probe = b"GET /healthz HTTP/1.1\r\nHost: receiver\r\n\r\n"
    for _ in range(2):
        writer.write(probe)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        length = next(
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        await reader.readexactly(length)
        # Idle between requests for longer than the client timeout: still open.
        await asyncio.sleep(CLIENT_TIMEOUT * 1.5)
    writer.close()


async def test_a_request_arriving_in_pieces_within_the_timeout_is_served(
    served: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*served)
    head = _head(2)
    for piece in (head[:10], head[10:], b"[", b"]"):
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(CLIENT_TIMEOUT / 5)
    status = await reader.readline()
    writer.close()
    # An empty array is refused on its merits, not cut off.
    assert status.startswith(b"HTTP/1.1 422 ")

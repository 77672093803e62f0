"""Every input a client controls is bytes until decoded safely: raw bytes at every route.

aiohttp's client refuses to send most of these (non-UTF-8 headers, control characters in a
path), so requests are written byte for byte on a socket: the request line, any header
(``Authorization`` and ``Content-Type`` with a declared charset among them), the query
string, form keys and values and JSON bodies. Whatever arrives, the answer is below 500.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confirmhub.settings import Settings
from receiver.docs.openapi import ROUTES
from tests.conftest import ADMIN_TOKEN, PORTAL_MEMBER_ID, WEBHOOK_SECRET
from tests.sms_fakes import FakeTwilio
from tests.sms_support import ADMIN, add_provider

_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")

# Every operation of the route table, its path parameters filled in by the generator.
OPERATIONS = sorted({(op.method.upper(), op.path) for op in ROUTES})
_PARAMETER = re.compile(r"\{[^}]+\}")

# Bytes that trip decoders: invalid UTF-8, lone surrogates as CESU-8, NUL, controls, escapes.
NASTY = st.sampled_from(
    [
        b"\xff",
        b"\xc3\x28",
        b"\xed\xa0\x80",
        b"\x00",
        b"\x7f",
        b"%ff",
        b"%ed%a0%80",
        b"\\ud800",
        b"\\x",
        b"%",
        b"\xe9",
        b"\r",
    ]
)
RAW = st.lists(st.one_of(NASTY, st.binary(max_size=8), st.just(b"a")), max_size=6).map(b"".join)
CHARSETS = st.sampled_from(
    [
        b"utf-8",
        b"latin-1",
        b"unicode_escape",
        b"raw_unicode_escape",
        b"utf-16",
        b"utf-7",
        b"idna",
        b"punycode",
        b"rot13",
        b"base64",
        b"hex",
        b"zlib",
        b"cp1251",
        b"koi8-r",
        b"utf-8-sig",
        b"mbcs",
        b"undefined",
        b"no-such",
        b"\xff",
    ]
)
CONTENT_TYPES = st.one_of(
    st.sampled_from([b"application/json", b"application/x-www-form-urlencoded"]).flatmap(
        lambda kind: CHARSETS.map(lambda charset: kind + b"; charset=" + charset)
    ),
    st.sampled_from([b"application/json", b"application/x-www-form-urlencoded"]),
    RAW,
)
AUTHORIZATIONS = st.one_of(
    st.sampled_from(
        [
            f"Bearer {ADMIN_TOKEN}".encode(),
            f"Bearer {WEBHOOK_SECRET}".encode(),
            b"Bearer \xff",
            b"Bearer \xed\xa0\x80",
            b"bearer " + ADMIN_TOKEN.encode() + b"\xff",
        ]
    ),
    RAW.map(lambda raw: b"Bearer " + raw),
    RAW,
)
FORM_KEYS = st.one_of(
    st.sampled_from([b"auth%5Bmember_id%5D", b"auth%5Bapplication_token%5D", b"event", b"token"]),
    RAW,
)
FORMS = st.lists(st.tuples(FORM_KEYS, RAW), max_size=4).map(
    lambda pairs: b"&".join(key + b"=" + value for key, value in pairs)
)
JSON_BODIES = st.one_of(
    RAW.map(lambda raw: b'{"auth": {"member_id": "' + raw + b'", "application_token": "x"}}'),
    RAW.map(lambda raw: b'{"' + raw + b'": "' + raw + b'"}'),
    st.just(b'{"auth": {"member_id": "\\ud800", "application_token": "\\udfff"}}'),
)


def _request(method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.fixture
async def served(
    make_client: Any,
    settings: Settings,
    twilio: FakeTwilio,
) -> TestClient:  # type: ignore[type-arg]
    """The receiver with a Twilio provider (id 1) whose receipts it verifies."""
    client = await make_client(settings.model_copy(update={"public_url": "https://hub.example"}))
    await add_provider(client, twilio, name="twilio", priority=1)
    listed = await client.get("/api/v2/confirmations/providers", headers=ADMIN)
    assert [provider["id"] for provider in await listed.json()] == [1]
    return client  # type: ignore[no-any-return]


async def _status(client: TestClient, raw: bytes) -> int:  # type: ignore[type-arg]
    """Write ``raw`` on a fresh connection and read the status of the answer."""
    server = client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(raw)
        await writer.drain()
        head = await reader.read(64)
    finally:
        writer.close()
    match = _STATUS.match(head)
    assert match is not None, head
    return int(match.group(1))


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(
    operation=st.sampled_from(OPERATIONS),
    segment=st.one_of(RAW, st.just(b"1")),
    query=st.one_of(st.none(), FORMS),
    authorization=st.one_of(st.none(), AUTHORIZATIONS),
    content_type=st.one_of(st.none(), CONTENT_TYPES),
    extra_header=st.tuples(
        st.sampled_from(
            [b"X-Request-ID", b"Accept-Language", b"X-Twilio-Signature", b"Idempotency-Key"]
        ),
        RAW,
    ),
    body=st.one_of(FORMS, JSON_BODIES, RAW),
)
async def test_no_raw_bytes_get_a_5xx(
    served: TestClient,  # type: ignore[type-arg]
    operation: tuple[str, str],
    segment: bytes,
    query: bytes | None,
    authorization: bytes | None,
    content_type: bytes | None,
    extra_header: tuple[bytes, bytes],
    body: bytes,
) -> None:
    method, template = operation
    # A path segment may hold anything but the bytes that end a request target.
    segment = re.sub(rb"[\s/?#]", b"_", segment) or b"x"
    target = _PARAMETER.sub(lambda _: segment.decode("latin-1"), template).encode("latin-1")
    if query is not None:
        target += b"?" + re.sub(rb"[\s#]", b"_", query)
    headers = [extra_header] if extra_header[1].strip() and b"\r" not in extra_header[1] else []
    for name, value in ((b"Authorization", authorization), (b"Content-Type", content_type)):
        if value is not None and b"\r" not in value and b"\n" not in value:
            headers.append((name, value))
    status = await _status(served, _request(method, target, headers, body))
    assert status < 500, (method, target, headers, body)


@pytest.mark.parametrize(
    ("path", "authorization"),
    [
        ("/webhooks/mcn/password-call", b"Bearer \xff"),
        ("/api/v1/api-keys", b"Bearer \xff"),
        ("/api/v2/confirmations/providers", b"Bearer \xed\xa0\x80"),
        ("/api/v1/password-calls", b"Bearer " + ADMIN_TOKEN.encode() + b"\xff"),
    ],
)
async def test_a_non_utf8_bearer_token_is_401(
    client: TestClient,  # type: ignore[type-arg]
    path: str,
    authorization: bytes,
) -> None:
    raw = _request("POST", path.encode(), [(b"Authorization", authorization)], b"{}")
    assert await _status(client, raw) == 401


@pytest.mark.parametrize("charset", [b"unicode_escape", b"raw_unicode_escape", b"utf-7", b"rot13"])
async def test_an_unsafe_declared_charset_is_refused(
    client: TestClient,  # type: ignore[type-arg]
    charset: bytes,
) -> None:
    body = (
        f"auth%5Bmember_id%5D={PORTAL_MEMBER_ID}".encode()
        + b"&auth%5Bapplication_token%5D=\\ud800&event=ONAPPTEST"
    )
    raw = _request(
        "POST",
        b"/webhooks/bitrix24",
        [(b"Content-Type", b"application/x-www-form-urlencoded; charset=" + charset)],
        body,
    )
    assert await _status(client, raw) == 415


@pytest.mark.parametrize(
    ("query", "signature"),
    [(b"", b"\xff"), (b"", b"\xed\xa0\x80"), (b"?a=%ff", b"x"), (b"?a=%ed%a0%80", b"x")],
)
async def test_a_twilio_receipt_with_undecodable_bytes_is_401(
    served: TestClient,  # type: ignore[type-arg]
    query: bytes,
    signature: bytes,
) -> None:
    raw = _request(
        "POST",
        b"/webhooks/sms/twilio/1" + query,
        [
            (b"Content-Type", b"application/x-www-form-urlencoded"),
            (b"X-Twilio-Signature", signature),
        ],
        b"MessageSid=SM1&MessageStatus=delivered",
    )
    assert await _status(served, raw) == 401

"""Hostile input, generated: no 5xx, the service stays up, and refusals publish nothing.

About 10,000 requests in all: random bytes, wrong types, huge numbers, deep nesting, bad
encodings and odd content types, aimed at both webhooks and the admin API.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from aio_pika.abc import AbstractChannel
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confirmhub.broker import WORKER_QUEUES
from tests.conftest import ADMIN_TOKEN, PORTAL_APPLICATION_TOKEN, PORTAL_MEMBER_ID, WEBHOOK_SECRET
from tests.helpers import queued_items, take_all


def attack(examples: int) -> settings:
    """Settings for a run of ``examples`` generated requests against the live app."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )


CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "application/json; charset=no-such-charset",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-16",
        "application/x-www-form-urlencoded; charset=bogus",
        "application/merge-patch+json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
        "",
        "json",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
NEAR_CDRS = st.fixed_dictionaries(
    {"verification_call_uuid": st.one_of(st.just("fa278be48dc2_117793"), SCALARS)},
    optional={
        "q931_status": st.one_of(SCALARS, st.sampled_from(["16", " 17 ", "1e3", "0x10", "١٦"])),
        "final_status": SCALARS,
        "verification_uuid": SCALARS,
        "extra": JSON_VALUES,
    },
)


def _deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


BODIES = st.one_of(
    st.binary(max_size=512),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    NEAR_CDRS.map(lambda value: json.dumps(value).encode()),
    st.lists(NEAR_CDRS, max_size=4).map(lambda value: json.dumps(value).encode()),
    st.integers(min_value=1, max_value=20_000).map(_deep),
    st.text(max_size=200).map(lambda text: text.encode("utf-16")),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
)
FORM_KEYS = st.one_of(
    st.sampled_from(
        [
            "event",
            "data[TOKEN]",
            "data[METHOD]",
            "data[CONFIRMED]",
            "ts",
            "auth[member_id]",
            "auth[application_token]",
            "auth[domain]",
            "data[a][b][c][d][e][f]",
            "a[",
            "a]b[",
            "[]",
            "data[]",
        ]
    ),
    st.text(max_size=20),
)
FORMS = st.lists(st.tuples(FORM_KEYS, st.text(max_size=40)), max_size=20).map(
    lambda pairs: "&".join(f"{quote(key)}={quote(value)}" for key, value in pairs).encode()
)
AUTHENTIC_FORMS = FORMS.map(
    lambda body: (
        body
        + f"&auth%5Bmember_id%5D={PORTAL_MEMBER_ID}"
        f"&auth%5Bapplication_token%5D={PORTAL_APPLICATION_TOKEN}".encode()
    )
)
API_CALLS = st.sampled_from(
    [
        ("POST", "/api/v1/password-calls"),
        ("POST", "/api/v1/password-calls/fa278be48dc2_117793/check"),
        ("GET", "/api/v1/password-calls/{text}"),
        ("PUT", "/api/v1/method-confirmations"),
        ("GET", "/api/v1/method-confirmations/{text}/{text}/{text}"),
        ("PUT", "/api/v1/bitrix24/portals/{text}"),
        ("DELETE", "/api/v1/bitrix24/portals/{text}"),
        ("POST", "/api/v2/confirmations/providers"),
        ("PATCH", "/api/v2/confirmations/providers/{text}"),
        ("GET", "/api/v2/confirmations/providers?{text}"),
        ("GET", "/api/v2/confirmations/providers/types/{text}/settings"),
        ("POST", "/api/v2/confirmations/templates"),
        ("PATCH", "/api/v2/confirmations/templates/{text}"),
        ("GET", "/api/v2/confirmations/templates?{text}"),
        ("POST", "/api/v1/api-keys"),
        ("GET", "/api/v1/api-keys"),
        ("DELETE", "/api/v1/api-keys/{text}"),
    ]
)


async def send_and_check(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    method: str,
    path: str,
    body: bytes,
    content_type: str | None,
    headers: dict[str, str],
) -> None:
    """Send one raw request: it must get an answer below 500, and the worker queues must then
    hold exactly what it was told was accepted — nothing for a refusal."""
    if content_type is not None:
        headers = {**headers, "Content-Type": content_type}
    skip = () if content_type is not None else ("Content-Type",)
    response = await client.request(
        method, path, data=body, headers=headers, skip_auto_headers=skip
    )
    text = await response.text(errors="replace")
    assert response.status < 500, (method, path, body[:200], content_type, text)
    accepted = int(json.loads(text)["accepted"]) if response.status == 202 else 0
    queued = [message for name in WORKER_QUEUES for message in await take_all(channel, name)]
    assert queued_items(queued) == accepted, (response.status, body[:200])


@attack(4000)
@given(
    body=BODIES | FORMS, content_type=CONTENT_TYPES, authentic=st.booleans(), query=st.booleans()
)
async def test_mcn_webhook_survives_hostile_input(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    body: bytes,
    content_type: str | None,
    authentic: bool,
    query: bool,
) -> None:
    secret = WEBHOOK_SECRET if authentic else "wrong"
    path = "/webhooks/mcn/password-call" + (f"?token={quote(secret)}" if query else "")
    headers = {} if query else {"Authorization": f"Bearer {secret}"}
    await send_and_check(client, channel, "POST", path, body, content_type, headers)


@attack(3000)
@given(body=BODIES | FORMS | AUTHENTIC_FORMS, content_type=CONTENT_TYPES)
async def test_bitrix24_webhook_survives_hostile_input(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    body: bytes,
    content_type: str | None,
) -> None:
    await send_and_check(client, channel, "POST", "/webhooks/bitrix24", body, content_type, {})


@attack(3000)
@given(
    call=API_CALLS,
    text=st.text(max_size=30),
    body=BODIES,
    content_type=CONTENT_TYPES,
    authentic=st.booleans(),
)
async def test_api_survives_hostile_input(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    call: tuple[str, str],
    text: str,
    body: bytes,
    content_type: str | None,
    authentic: bool,
) -> None:
    method, template = call
    path = template.replace("{text}", quote(text, safe="=&[]"))
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN if authentic else 'wrong'}"}
    await send_and_check(client, channel, method, path, body, content_type, headers)


RECEIPT_ROUTES = st.sampled_from(
    [
        f"/webhooks/sms/{kind}/{provider}"
        for kind in ("twilio", "vonage", "smsaero")
        for provider in ("1", "0", "99999999999999999999")
    ]
)


@attack(2000)
@given(
    path=RECEIPT_ROUTES,
    body=BODIES | FORMS,
    content_type=CONTENT_TYPES,
    signature=st.one_of(st.none(), st.text(max_size=40)),
)
async def test_sms_receipts_survive_hostile_input(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    seeded_provider: None,
    path: str,
    body: bytes,
    content_type: str | None,
    signature: str | None,
) -> None:
    headers = {} if signature is None else {"X-Twilio-Signature": quote(signature)}
    await send_and_check(client, channel, "POST", path, body, content_type, headers)


@pytest.fixture
async def seeded_provider(client: TestClient) -> None:  # type: ignore[type-arg]
    """Provider 1, a Twilio one: on the other types' routes its id names a provider of
    another type, which must be refused as an unknown one is."""
    response = await client.post(
        "/api/v2/confirmations/providers",
        json={
            "name": "twilio",
            "provider": "Twilio",
            "options": {"api_sid": "AC1", "api_secret": "s3cret", "from": "+15005550006"},
        },
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status == 201, await response.text()


async def test_service_still_answers_after_the_attack(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    assert (await client.get("/readyz")).status == 200

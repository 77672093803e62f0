"""The MCN webhook's refusals: each has its status, problem+json, and publishes nothing."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aio_pika.abc import AbstractChannel
from aiohttp.test_utils import TestClient

from confirmhub.broker import MCN_CDR_QUEUE
from schemas.inbound import CDR_MESSAGES
from tests.conftest import WEBHOOK_SECRET
from tests.helpers import fixture_bytes, take_all

PATH = "/webhooks/mcn/password-call"
AUTH = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
JSON = {"Content-Type": "application/json"}
VALID = fixture_bytes("mcn_cdr_answered.json")


async def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    problem = orjson.loads(await response.read())
    assert problem["status"] == status
    assert {"type", "title", "status", "detail"} <= set(problem)
    return dict(problem)


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, ""),
        ({"Authorization": "Bearer wrong"}, ""),
        ({"Authorization": f"Basic {WEBHOOK_SECRET}"}, ""),
        ({}, "?token=wrong"),
        ({"Authorization": "Bearer ✓-not-ascii"}, ""),
    ],
)
async def test_wrong_or_missing_secret_is_401(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    headers: dict[str, str],
    query: str,
) -> None:
    response = await client.post(PATH + query, data=VALID, headers={**JSON, **headers})
    await assert_problem(response, 401)
    assert len(await take_all(channel, MCN_CDR_QUEUE)) == 0


async def test_secret_in_query_string_is_accepted(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
) -> None:
    response = await client.post(f"{PATH}?token={WEBHOOK_SECRET}", data=VALID, headers=JSON)
    assert response.status == 202
    assert len(await take_all(channel, MCN_CDR_QUEUE)) == 1


async def test_unconfigured_secret_refuses_everything(
    make_client: Any, settings: Any, channel: AbstractChannel
) -> None:
    client = await make_client(settings.model_copy(update={"mcn_webhook_secret": None}))
    response = await client.post(PATH, data=VALID, headers={**JSON, **AUTH})
    await assert_problem(response, 401)
    assert len(await take_all(channel, MCN_CDR_QUEUE)) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{" + b" " * 70 * 1024 + b"}", "application/json", 413),
        (VALID, "text/plain", 415),
        (VALID, "application/xml", 415),
        (b'{"verification_call_uuid": "fa278be48dc2_117793", "q931_status": "abc"}', None, 422),
        (b'{"q931_status": 16}', None, 422),
        (b'{"verification_call_uuid": "no-underscore", "q931_status": 16}', None, 422),
        (b'{"verification_call_uuid": "fa278be48dc2_117793", "q931_status": 1e99}', None, 422),
        (b'{"verification_call_uuid": "fa278be48dc2_117793", "q931_status": true}', None, 422),
        (b'[{"verification_call_uuid": "a_1", "q931_status": 16}, {"q931_status": 1}]', None, 422),
        (b"[]", None, 422),
        (
            b'{"verification_call_uuid": "a_1", "q931_status": 16, "final_status": "A\\u0000"}',
            None,
            422,
        ),
        (b'"just a string"', None, 422),
        (b"[1, 2]", None, 422),
        (b"{not json", None, 400),
        (b"\xff\xfe{}", None, 400),
        (b"", None, 400),
        (b"[" * 5000 + b"]" * 5000, None, 400),
        (b'{"verification_call_uuid": "a_1", "q931_status": NaN}', None, 400),
    ],
)
async def test_bad_body_is_refused_and_nothing_published(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    body: bytes,
    content_type: str | None,
    status: int,
) -> None:
    headers = {**AUTH, "Content-Type": content_type or "application/json"}
    problem = await assert_problem(await client.post(PATH, data=body, headers=headers), status)
    if status == 422:
        assert problem["errors"], "a 422 lists what failed"
    assert len(await take_all(channel, MCN_CDR_QUEUE)) == 0


async def test_chunked_body_over_limit_is_413(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
) -> None:
    async def chunks() -> Any:
        for _ in range(80):
            yield b" " * 1024

    response = await client.post(PATH, data=chunks(), headers={**AUTH, **JSON})
    await assert_problem(response, 413)
    assert len(await take_all(channel, MCN_CDR_QUEUE)) == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"verification_uuid": "fa278be48dc2_117793", "q931_status": 16}', "application/json"),
        (b'{"verification_call_uuid": " fa278be48dc2_117793 ", "q931_status": " 17 "}', None),
        (
            b"verification_call_uuid=fa278be48dc2_117793&q931_status=17",
            "application/x-www-form-urlencoded",
        ),
        (
            b'{"verification_call_uuid": "a_b_117793", "q931_status": 16, "x": {"y": [1]}}',
            "application/json; charset=utf-8",
        ),
        (
            b'{"verification_call_uuid": "fa278be48dc2_117793", "q931_status": 16.0}',
            "application/vnd.mcn+json",
        ),
    ],
)
async def test_upstream_variety_is_accepted(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    body: bytes,
    content_type: str | None,
) -> None:
    headers = dict(AUTH)
    if content_type is not None:
        headers["Content-Type"] = content_type
    # No Content-Type at all is sniffed as JSON; aiohttp would otherwise add octet-stream.
    skip = () if content_type is not None else ("Content-Type",)
    response = await client.post(PATH, data=body, headers=headers, skip_auto_headers=skip)
    assert response.status == 202, await response.text()
    assert len(await take_all(channel, MCN_CDR_QUEUE)) == 1


async def test_queued_message_keeps_extra_fields_and_coerces_numbers(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
) -> None:
    response = await client.post(
        PATH, data=fixture_bytes("mcn_cdr_no_answer_strings.json"), headers={**AUTH, **JSON}
    )
    assert response.status == 202
    request_id = (await response.json())["request_id"]
    [message] = await take_all(channel, MCN_CDR_QUEUE)
    assert message.correlation_id == request_id
    queued = orjson.loads(message.body)
    assert queued["cdr"] == {
        "verification_call_uuid": "fa278be48dc4_117793",
        "q931_status": 16,
        "final_status": "CANCEL",
        "duration": "0",
    }


async def test_a_requests_cdrs_are_queued_together(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
) -> None:
    response = await client.post(
        PATH, data=fixture_bytes("mcn_cdr_batch.json"), headers={**AUTH, **JSON}
    )
    assert response.status == 202
    request_id = (await response.json())["request_id"]
    assert (await response.json())["accepted"] == 2
    [message] = await take_all(channel, MCN_CDR_QUEUE)
    cdrs = CDR_MESSAGES.decode(message.body)
    assert [cdr.request_id for cdr in cdrs] == [request_id, request_id]
    sent = orjson.loads(fixture_bytes("mcn_cdr_batch.json"))
    assert [cdr.cdr.verification_call_uuid for cdr in cdrs] == [
        item["verification_call_uuid"] for item in sent
    ]
    assert message.correlation_id == request_id


async def test_unknown_route_and_wrong_method_are_problems(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    await assert_problem(await client.get("/nope"), 404)
    await assert_problem(await client.get(PATH), 405)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_nul_characters_are_refused_before_the_database(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    backend: str,
) -> None:
    # PostgreSQL cannot store NUL: a value it would refuse must never be acknowledged.
    admin = {"Authorization": "Bearer test-admin-token-7f3a"}
    cdr = {"verification_call_uuid": "a_1", "q931_status": 16, "final_status": "x\x00"}
    await assert_problem(await client.post(PATH, json=cdr, headers=AUTH), 422)
    await assert_problem(await client.get("/api/v1/password-calls/a%00_1", headers=admin), 404)
    template = {"name": "a\x00b", "caption": "c", "template": "%CODE%", "isEnabled": True}
    response = await client.post("/api/v2/confirmations/templates", json=template, headers=admin)
    await assert_problem(response, 422)
    assert await take_all(channel, MCN_CDR_QUEUE) == []

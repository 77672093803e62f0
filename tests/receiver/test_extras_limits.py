"""Extra fields are bounded at the receiver: past a limit, a 422 that names it, and nothing
queued; at the limit, accepted and queued whole (the worker reads them: see
tests/test_accepted_is_processed.py)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aio_pika.abc import AbstractChannel
from aiohttp.test_utils import TestClient

from confirmhub.broker import BITRIX24_QUEUE, MCN_CDR_QUEUE
from schemas import limits
from schemas.inbound import CDR_MESSAGES, METHOD_CONFIRM_MESSAGES
from tests.conftest import PORTAL_APPLICATION_TOKEN, PORTAL_MEMBER_ID, WEBHOOK_SECRET
from tests.helpers import nested, take_all
from tests.receiver.test_mcn_webhook import assert_problem

CDR_PATH = "/webhooks/mcn/password-call"
AUTH = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
JSON = {"Content-Type": "application/json"}
# Just over the size limit: a JSON string of n characters takes n + 2 bytes.
TOO_LARGE = "x" * limits.EXTRAS_BYTES
# At it, with room for the key and braces of the extras object.
LARGEST = "y" * (limits.EXTRAS_BYTES - 64)


def cdr(uuid: str, **extras: Any) -> dict[str, Any]:
    """A CDR as MCN posts one (numbers as strings), with ``extras``."""
    return {"verification_call_uuid": uuid, "q931_status": "17", "final_status": "CANCEL", **extras}


def method_confirm_event(
    *,
    auth_extra: dict[str, Any] | None = None,
    data_extra: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An ONAPPMETHODCONFIRM as JSON, with extras at the top, in ``auth`` and in ``data``."""
    return {
        "event": "ONAPPMETHODCONFIRM",
        "data": {"TOKEN": "limits-access-token", "METHOD": "user.get", "CONFIRMED": "1"}
        | (data_extra or {}),
        "ts": "1478790852",
        "auth": {"member_id": PORTAL_MEMBER_ID, "application_token": PORTAL_APPLICATION_TOKEN}
        | (auth_extra or {}),
        **extra,
    }


@pytest.mark.parametrize("depth", [limits.EXTRA_DEPTH + 1, 220, 300, 1000])
async def test_cdr_extras_nested_past_the_limit_are_refused(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    depth: int,
) -> None:
    # Written out by hand: JSON encoders stop short of a thousand levels.
    extra = b'{"a":' * depth + b'"leaf"' + b"}" * depth
    body = b'{"verification_call_uuid":"deep_1","q931_status":17,"extra":' + extra + b"}"
    response = await client.post(CDR_PATH, data=body, headers={**AUTH, **JSON})
    problem = await assert_problem(response, 422)
    assert f"nests more than {limits.EXTRA_DEPTH} levels deep" in problem["detail"]
    assert await take_all(channel, MCN_CDR_QUEUE) == []


async def test_cdr_extras_over_the_size_limit_are_refused(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
) -> None:
    body = [cdr("a_1"), cdr("b_1", x=TOO_LARGE)]
    response = await client.post(CDR_PATH, json=body, headers=AUTH)
    problem = await assert_problem(response, 422)
    assert "CDR #1" in problem["detail"]
    assert f"over the limit of {limits.EXTRAS_BYTES}" in problem["detail"]
    assert await take_all(channel, MCN_CDR_QUEUE) == []


async def test_cdr_extras_at_the_limits_are_queued_whole(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
) -> None:
    extras = {"deepest": nested(limits.EXTRA_DEPTH - 1, [1, "2", None]), "largest": LARGEST[:-200]}
    response = await client.post(CDR_PATH, json=cdr("edge_1", **extras), headers=AUTH)
    assert response.status == 202, await response.text()
    [message] = await take_all(channel, MCN_CDR_QUEUE)
    [queued] = CDR_MESSAGES.decode(message.body)
    assert queued.cdr.model_extra == extras


@pytest.mark.parametrize(
    ("extras", "limit"),
    [
        ({"extra": nested(limits.EXTRA_DEPTH + 1)}, f"more than {limits.EXTRA_DEPTH} levels"),
        ({"auth_extra": {"scope": nested(300)}}, f"more than {limits.EXTRA_DEPTH} levels"),
        ({"data_extra": {"X": nested(limits.EXTRA_DEPTH + 1)}}, f"more than {limits.EXTRA_DEPTH}"),
        ({"extra": TOO_LARGE}, f"over the limit of {limits.EXTRAS_BYTES}"),
        ({"auth_extra": {"scope": TOO_LARGE}}, f"over the limit of {limits.EXTRAS_BYTES}"),
        ({"data_extra": {"X": TOO_LARGE}}, f"over the limit of {limits.EXTRAS_BYTES}"),
    ],
)
async def test_bitrix24_extras_past_the_limits_are_refused(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
    extras: dict[str, Any],
    limit: str,
) -> None:
    response = await client.post("/webhooks/bitrix24", json=method_confirm_event(**extras))
    problem = await assert_problem(response, 422)
    assert limit in problem["detail"]
    assert await take_all(channel, BITRIX24_QUEUE) == []


async def test_bitrix24_extras_at_the_limits_are_accepted(
    client: TestClient,  # type: ignore[type-arg]
    channel: AbstractChannel,
) -> None:
    event = method_confirm_event(
        auth_extra={"scope": nested(limits.EXTRA_DEPTH)},
        data_extra={"X": LARGEST},
        extra=[nested(limits.EXTRA_DEPTH - 1)],
    )
    response = await client.post("/webhooks/bitrix24", data=orjson.dumps(event), headers=JSON)
    assert response.status == 202, await response.text()
    [message] = await take_all(channel, BITRIX24_QUEUE)
    # The queue message carries what the worker needs, never the extras.
    [queued] = METHOD_CONFIRM_MESSAGES.decode(message.body)
    assert queued.method == "user.get"
    assert LARGEST.encode() not in message.body

"""The served OpenAPI and AsyncAPI documents: valid, complete, current, and public."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage, DeliveryMode
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from confirmhub.db.bitrix24 import MethodConfirmationRecord
from confirmhub.db.sms_attempts import SmsAttempt
from confirmhub.db.store import PasswordCallRecord
from confirmhub.events import (
    method_confirmation_event,
    password_call_approved_event,
    password_call_canceled_event,
    password_call_outcome_event,
    password_call_sms_delivery_event,
    password_call_sms_event,
)
from receiver.docs.handlers import docs_files
from schemas.events import CallOutcome
from tests.conftest import ADMIN_TOKEN, WEBHOOK_SECRET
from tests.helpers import EventTap, fixture_bytes

DOCS = Path(__file__).resolve().parents[2] / "docs"
ROUTING_KEYS = {
    *(f"password_call.{outcome}" for outcome in CallOutcome),
    "method_confirmation.confirmed",
    "method_confirmation.denied",
    "password_call.approved",
    "password_call.canceled",
    "password_call.sms_sent",
    "password_call.sms_failed",
    "password_call.sms_delivered",
    "password_call.sms_undelivered",
}
NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
CALL = PasswordCallRecord(
    verification_call_uuid="fa278be48dc2_117793",
    call_id="fa278be48dc2",
    account_id="117793",
    phone_number="421222202004",
    code_hash=None,
    initiated_at=NOW,
    outcome=None,
    q931_status=None,
    final_status=None,
    completed_at=None,
    created_at=NOW,
    updated_at=NOW,
    code_encrypted=None,
    code_expires_at=None,
    locale="en",
    check_attempts=0,
    verification_status="pending",
    approved_at=None,
    sms_status=None,
    sms_provider=None,
    sms_message_id=None,
    sms_error=None,
    sms_updated_at=None,
    sms_claim=0,
    sms_round=1,
    sms_counted_round=0,
)
ATTEMPT = SmsAttempt(
    attempt_id="9c1e6c36-3f49-4f0b-8b43-5a1f2f0c9d11",
    verification_call_uuid=CALL.verification_call_uuid,
    attempt_no=1,
    claim=1,
    provider_id=1,
    provider_name="twilio",
    provider_type="Twilio",
    state="accepted",
    provider_message_id="SM0123456789abcdef0123456789abcdef",
    error=None,
    started_at=NOW,
    finished_at=NOW,
    delivery_updated_at=NOW,
)
CONFIRMATION = MethodConfirmationRecord(
    member_id="74ef8a46a75104de55d5d4a61b98ab6d",
    token_sha256="a" * 64,
    method="voximplant.user.get",
    status="confirmed",
    domain="example.bitrix24.com",
    language_id="en",
    source_ts=1478790852,
    decided_at=NOW,
    created_at=NOW,
    updated_at=NOW,
)
Q931 = {"answered": 16, "busy": 17, "no_answer": 16, "rejected": 31, "billing_failed": 41}


async def get_json(client: TestClient, path: str) -> dict[str, Any]:  # type: ignore[type-arg]
    """GET a document without credentials; it must be public JSON."""
    response = await client.get(path)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    document = await response.json()
    assert isinstance(document, dict)
    return document


def built_events() -> dict[str, bytes]:
    """A body for every routing key, from the event builders the worker uses."""
    bodies = {}
    for outcome in CallOutcome:
        record = dataclasses.replace(
            CALL,
            outcome=outcome.value,
            q931_status=Q931.get(outcome.value, 1),
            final_status="ANSWER" if outcome is CallOutcome.ANSWERED else "CANCEL",
            completed_at=NOW,
        )
        bodies[f"password_call.{outcome}"] = password_call_outcome_event(
            record, correlation_id="req-1"
        ).body
    approved = dataclasses.replace(CALL, verification_status="approved", approved_at=NOW)
    bodies["password_call.approved"] = password_call_approved_event(
        approved, correlation_id=None
    ).body
    canceled = dataclasses.replace(CALL, verification_status="canceled")
    bodies["password_call.canceled"] = password_call_canceled_event(
        canceled, correlation_id="req-3"
    ).body
    for status, error in (("sent", None), ("failed", "all providers failed")):
        sms = dataclasses.replace(
            CALL, sms_status=status, sms_provider="Twilio", sms_error=error, sms_updated_at=NOW
        )
        bodies[f"password_call.sms_{status}"] = password_call_sms_event(sms).body
    for delivery, code in (("delivered", None), ("undelivered", "30003")):
        receipt = dataclasses.replace(
            ATTEMPT, delivery=delivery, delivery_status=delivery, delivery_error_code=code
        )
        bodies[f"password_call.sms_{delivery}"] = password_call_sms_delivery_event(
            receipt, correlation_id="req-2"
        ).body
    for status in ("confirmed", "denied"):
        decided = dataclasses.replace(CONFIRMATION, status=status)
        bodies[f"method_confirmation.{status}"] = method_confirmation_event(
            decided, correlation_id=None
        ).body
    return bodies


def payload_validator(asyncapi: dict[str, Any], routing_key: str) -> jsonschema.Draft7Validator:
    """A validator of the payload the AsyncAPI document gives ``routing_key``'s message."""
    channel = next(c for c in asyncapi["channels"].values() if c["address"] == routing_key)
    (ref,) = channel["messages"].values()
    message = asyncapi["components"]["messages"][ref["$ref"].rsplit("/", 1)[-1]]
    schema = {**message["payload"], "components": asyncapi["components"]}
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


async def test_openapi_is_valid_and_documents_every_route(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    document = await get_json(client, "/api/openapi.json")
    validate(document)
    assert document["openapi"].startswith("3.1")
    documented = {
        (method.upper(), path): operation["operationId"]
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    app = client.app
    assert isinstance(app, web.Application)
    # add_get registers HEAD beside each GET; GET is the documented operation.
    registered = {
        (route.method, route.resource.canonical): getattr(route.handler, "__name__", "")
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    assert registered == documented


async def test_every_documented_error_is_problem_json(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    document = await get_json(client, "/api/openapi.json")
    for methods in document["paths"].values():
        for operation in methods.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and "$ref" in response:
                    name = response["$ref"].rsplit("/", 1)[-1]
                    content = document["components"]["responses"][name]["content"]
                    assert list(content) == ["application/problem+json"]


async def test_security_follows_the_contract(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    document = await get_json(client, "/api/openapi.json")
    public = {"/api/openapi.json", "/api/asyncapi.json", "/api/docs"}
    for path, methods in document["paths"].items():
        for operation in methods.values():
            if path.startswith("/api/") and path not in public:
                # PRODUCT.md: calls for password calls, bitrix24 for method confirmations,
                # admin for the rest (portals, providers, templates, keys).
                scope = (
                    "calls"
                    if path.startswith("/api/v1/password-calls")
                    else "bitrix24"
                    if path.startswith("/api/v1/method-confirmations")
                    else "admin"
                )
                assert operation["security"] == [{"apiKey": [scope]}], path
                assert {"401", "403"} <= set(operation["responses"]), path
            elif path == "/webhooks/mcn/password-call":
                assert operation["security"] == [{"mcnBearer": []}, {"mcnToken": []}]
            elif path == "/webhooks/sms/twilio/{provider_id}":
                assert operation["security"] == [{"twilioSignature": []}]
            else:
                assert operation["security"] == [], path


async def test_docs_are_public_and_the_api_is_not(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    page = await client.get("/api/docs")
    assert page.status == 200
    assert page.content_type == "text/html"
    html = await page.text()
    assert "<script" not in html, "the page needs no script, so no CDN"
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", html), "nothing external"
    for path in ("/webhooks/bitrix24", "/api/v2/confirmations/providers/{providerId}"):
        assert path in html
    assert "password_call.billing_failed" in html
    for path in ("/api/v1/password-calls/x_1", "/api/docs/", "/api/openapi.json.bak"):
        refused = await client.get(path)
        assert refused.status == 401, path
        assert refused.content_type == "application/problem+json"
    allowed = await client.get(
        "/api/v2/confirmations/providers/types",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert allowed.status == 200


async def test_asyncapi_lists_every_routing_key_with_amqp_bindings(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    document = await get_json(client, "/api/asyncapi.json")
    assert document["asyncapi"] == "3.0.0"
    channels = document["channels"]
    assert {channel["address"] for channel in channels.values()} == ROUTING_KEYS
    for channel in channels.values():
        binding = channel["bindings"]["amqp"]
        assert binding["is"] == "routingKey"
        assert binding["exchange"] | {"vhost": "/"} == {
            "name": "confirmhub.events",
            "type": "topic",
            "durable": True,
            "autoDelete": False,
            "vhost": "/",
        }
    for operation in document["operations"].values():
        assert operation["action"] == "send"
        assert operation["bindings"]["amqp"]["deliveryMode"] == 2
    for name, message in document["components"]["messages"].items():
        assert message["contentType"] == "application/json"
        assert message["bindings"]["amqp"]["messageType"] == message["name"] == name
        assert message["x-amqp-properties"]["message_id"] == "$message.payload#/event_id"


async def test_each_payload_schema_validates_a_real_event(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    document = await get_json(client, "/api/asyncapi.json")
    bodies = built_events()
    assert set(bodies) == ROUTING_KEYS
    for routing_key, body in bodies.items():
        event = orjson.loads(body)
        assert event["type"] == routing_key
        validator = payload_validator(document, routing_key)
        validator.validate(event)
        assert not validator.is_valid({**event, "unexpected": 1})
        assert not validator.is_valid({**event, "occurred_at": "yesterday"})
    busy = orjson.loads(bodies["password_call.busy"])
    assert not payload_validator(document, "password_call.answered").is_valid(busy)
    assert not payload_validator(document, "password_call.sms_sent").is_valid(busy)
    no_cdr = orjson.loads(bodies["password_call.no_cdr"])
    assert no_cdr["data"]["q931_status"] is None
    assert not payload_validator(document, "password_call.busy").is_valid(no_cdr)
    assert not payload_validator(document, "password_call.no_cdr").is_valid(busy)


def assert_as_documented(asyncapi: dict[str, Any], message: AbstractIncomingMessage) -> None:
    """A published event's body and properties match what the AsyncAPI document says."""
    event = orjson.loads(message.body)
    payload_validator(asyncapi, message.routing_key or "").validate(event)
    assert message.content_type == "application/json"
    assert message.delivery_mode == DeliveryMode.PERSISTENT
    assert message.message_id == event["event_id"]
    assert message.type == message.routing_key == event["type"]


@pytest.mark.usefixtures("worker")
async def test_published_events_match_the_document(
    client: TestClient,  # type: ignore[type-arg]
    events: EventTap,
) -> None:
    document = await get_json(client, "/api/asyncapi.json")
    cdr = await client.post(
        "/webhooks/mcn/password-call",
        data=fixture_bytes("mcn_cdr_busy.json"),
        headers={"Authorization": f"Bearer {WEBHOOK_SECRET}", "Content-Type": "application/json"},
    )
    assert cdr.status == 202
    decision = await client.post(
        "/webhooks/bitrix24",
        data=fixture_bytes("bitrix24_onappmethodconfirm_granted.form"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert decision.status == 202
    published = await events.collect(2)
    assert {message.routing_key for message in published} == {
        "password_call.busy",
        "method_confirmation.confirmed",
    }
    for message in published:
        assert_as_documented(document, message)


async def test_checked_in_docs_are_what_the_generator_writes(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    generated = docs_files()
    assert set(generated) == {"openapi.json", "asyncapi.json"}
    for name, text in generated.items():
        on_disk = (DOCS / name).read_text(encoding="utf-8")
        assert on_disk == text, f"docs/{name} is stale: run scripts/generate-docs"
        assert orjson.loads(text) == await get_json(client, f"/api/{name}")

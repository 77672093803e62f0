"""The AsyncAPI 3.0 document of the downstream ``confirmhub.events`` exchange.

Each routing key is one channel (AMQP ``is: routingKey`` on the durable topic exchange) with
one message, whose payload is the ``EventEnvelope`` narrowed to that key's ``data`` model and
``type``. Schemas come from the event models in serialization mode, as they are published.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from confirmhub import __version__
from schemas.bitrix24 import MethodConfirmationData, method_confirmation_event_type
from schemas.events import (
    EVENTS_EXCHANGE,
    CallOutcome,
    EventEnvelope,
    PasswordCallApprovedData,
    PasswordCallCanceledData,
    PasswordCallNoCdrData,
    PasswordCallOutcomeData,
    PasswordCallSmsData,
    PasswordCallSmsDeliveryData,
)

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
PERSISTENT = 2  # AMQP delivery mode
REF_TEMPLATE = "#/components/schemas/{model}"


class PasswordCallOutcomeEvent(EventEnvelope):
    """``password_call.<outcome>``: a password call ended, classified from its CDR."""

    data: PasswordCallOutcomeData


class PasswordCallNoCdrEvent(EventEnvelope):
    """``password_call.no_cdr``: a password call's CDR did not come within the timeout."""

    data: PasswordCallNoCdrData


class PasswordCallCanceledEvent(EventEnvelope):
    """``password_call.canceled``: the verification was canceled through the API."""

    data: PasswordCallCanceledData


class PasswordCallApprovedEvent(EventEnvelope):
    """``password_call.approved``: the user entered the right code."""

    data: PasswordCallApprovedData


class PasswordCallSmsEvent(EventEnvelope):
    """``password_call.sms_sent`` / ``.sms_failed``: the fallback SMS was sent or gave up."""

    data: PasswordCallSmsData


class PasswordCallSmsDeliveryEvent(EventEnvelope):
    """``password_call.sms_delivered`` / ``.sms_undelivered``: a sent SMS's final receipt."""

    data: PasswordCallSmsDeliveryData


class MethodConfirmationEvent(EventEnvelope):
    """``method_confirmation.confirmed`` / ``.denied``: a portal administrator decided."""

    data: MethodConfirmationData


_OUTCOMES = {
    CallOutcome.ANSWERED: "The call was answered (Q.931 16, final status ANSWER).",
    CallOutcome.BUSY: "The line was busy (Q.931 17).",
    CallOutcome.NO_ANSWER: "Nobody answered (Q.931 16 with another final status, e.g. CANCEL).",
    CallOutcome.REJECTED: "The receiving operator rejected the call (Q.931 31).",
    CallOutcome.BILLING_FAILED: "MCN could not bill the call (Q.931 41).",
    CallOutcome.UNAVAILABLE: "Any other Q.931 cause: the number could not be reached.",
}

# Routing key → (envelope model, description, extra constraints on ``data``).
EVENTS: dict[str, tuple[type[EventEnvelope], str, dict[str, Any]]] = {
    **{
        f"password_call.{outcome.value}": (
            PasswordCallOutcomeEvent,
            text,
            {"outcome": {"const": outcome.value}},
        )
        for outcome, text in _OUTCOMES.items()
    },
    "password_call.no_cdr": (
        PasswordCallNoCdrEvent,
        "No CDR came within `CONFIRMHUB_CDR_TIMEOUT_SECONDS` of placing the call: it ended "
        "without one (published once, by one worker). The SMS fallback applies to it by "
        "default. A CDR that comes later is stored but publishes no outcome event.",
        {},
    ),
    "password_call.canceled": (
        PasswordCallCanceledEvent,
        "The verification was canceled (`POST …/cancel`): its code no longer checks and no "
        "SMS goes out afterwards (published once per call).",
        {},
    ),
    "password_call.approved": (
        PasswordCallApprovedEvent,
        "The code entered for the call matched (published once per call).",
        {},
    ),
    "password_call.sms_sent": (
        PasswordCallSmsEvent,
        "The call failed and the code went out by SMS through `provider`. Published once "
        "for the first SMS, and once more if it went undelivered and failed over to the next "
        "enabled provider.",
        {},
    ),
    "password_call.sms_failed": (
        PasswordCallSmsEvent,
        "The call failed and no provider could send the SMS; `error` says why (once for the "
        "first SMS, once more for a failover).",
        {},
    ),
    "password_call.sms_delivered": (
        PasswordCallSmsDeliveryEvent,
        "The provider's receipt says the SMS reached the handset (once per SMS sent). Also "
        "published for an SMS first reported `sms_failed` as possibly sent, once its "
        "provider's receipt shows it was.",
        {},
    ),
    "password_call.sms_undelivered": (
        PasswordCallSmsDeliveryEvent,
        "The provider's receipt says the SMS will not arrive (failed, expired, rejected…; "
        "`status` and `error_code` are the provider's). The first such SMS of a call fails "
        "over to the next enabled provider, once.",
        {},
    ),
    method_confirmation_event_type(confirmed=True): (
        MethodConfirmationEvent,
        "The administrator granted `method` for the access token hashed as `token_sha256`.",
        {},
    ),
    method_confirmation_event_type(confirmed=False): (
        MethodConfirmationEvent,
        "The administrator denied `method` for the access token hashed as `token_sha256`.",
        {},
    ),
}

_EXCHANGE_BINDING = {
    "amqp": {
        "is": "routingKey",
        "exchange": {
            "name": EVENTS_EXCHANGE,
            "type": "topic",
            "durable": True,
            "autoDelete": False,
            "vhost": "/",
        },
        "bindingVersion": AMQP_BINDING_VERSION,
    }
}
_PUBLISH_BINDING = {
    "amqp": {
        "deliveryMode": PERSISTENT,
        "mandatory": False,
        "timestamp": True,
        "bindingVersion": AMQP_BINDING_VERSION,
    }
}
_PROPERTIES = (
    "AMQP properties: `content_type` application/json, `delivery_mode` 2 (persistent), "
    "`message_id` = the body's `event_id`, `type` = the routing key, `app_id` confirmhub, "
    "`timestamp` the publish time, and `correlation_id` the request id of the webhook or "
    "API call that caused the event, when there was one."
)


def _payload(key: str, envelope: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    narrowed: dict[str, Any] = {"type": {"const": key}}
    if data:
        narrowed["data"] = {"properties": data}
    return {"allOf": [envelope, {"properties": narrowed}]}


def _message(key: str, envelope: dict[str, Any], text: str, data: dict[str, Any]) -> Any:
    return {
        "name": key,
        "title": key,
        "summary": text,
        "description": _PROPERTIES,
        "contentType": "application/json",
        "payload": _payload(key, envelope, data),
        "bindings": {"amqp": {"messageType": key, "bindingVersion": AMQP_BINDING_VERSION}},
        "x-amqp-properties": {
            "content_type": "application/json",
            "delivery_mode": PERSISTENT,
            "message_id": "$message.payload#/event_id",
            "type": key,
        },
    }


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every event published to ``confirmhub.events``."""
    models = list(dict.fromkeys(model for model, _, _ in EVENTS.values()))
    keys: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "serialization") for model in models
    ]
    refs, top = models_json_schema(keys, ref_template=REF_TEMPLATE)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for key, (model, text, data) in EVENTS.items():
        messages[key] = _message(key, refs[(model, "serialization")], text, data)
        channels[key] = {
            "address": key,
            "title": key,
            "description": text,
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "bindings": _EXCHANGE_BINDING,
        }
        operations[f"publish.{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"confirmhub publishes {key}.",
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
            "bindings": _PUBLISH_BINDING,
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:confirmhub:events",
        "info": {
            "title": "confirmhub events",
            "version": __version__,
            "description": f"Downstream events on the durable topic exchange `{EVENTS_EXCHANGE}`."
            " Consumers bind their own queues (`password_call.*`, `method_confirmation.#`, …)."
            " `event_id` is deterministic per state transition, so a republish after a crash"
            " carries the same id; each transition is published once.",
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "127.0.0.1:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "The broker named by CONFIRMHUB_AMQP_URL.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": dict(sorted(top.get("$defs", {}).items())),
            "messages": messages,
        },
    }

"""Bitrix24 events validate from form and JSON alike; tokens leave only as SHA-256."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from receiver.webhooks.php_form import nest_php_form
from schemas.bitrix24 import (
    BITRIX24_METHOD_CONFIRM_ROUTING_KEY,
    Bitrix24Auth,
    Bitrix24Envelope,
    InboundMethodConfirm,
    InstallEvent,
    MethodConfirmationData,
    MethodConfirmationRegistration,
    MethodConfirmationView,
    MethodConfirmEvent,
    PortalTokenBody,
    method_confirmation_event_type,
)
from tests.helpers import fixture_bytes

ACCESS_TOKEN = "fkp963yuv1ggkfbs5z3f5hy8lilm0iw6"
APPLICATION_TOKEN = "c289487163b58658eae5e8b42eaf11b8"
MEMBER_ID = "74ef8a46a75104de55d5d4a61b98ab6d"
RECEIVED_AT = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)


def form_fixture(name: str) -> dict[str, Any]:
    """A shared form fixture, decoded and nested as the receiver does."""
    pairs = parse_qsl(fixture_bytes(name).decode(), keep_blank_values=True)
    return nest_php_form(pairs)


def granted() -> dict[str, Any]:
    return form_fixture("bitrix24_onappmethodconfirm_granted.form")


def test_granted_fixture() -> None:
    event = MethodConfirmEvent.model_validate(granted())

    assert event.event == "ONAPPMETHODCONFIRM"
    assert event.event_handler_id == 12
    assert event.data.token.get_secret_value() == ACCESS_TOKEN
    assert event.data.method == "voximplant.user.get"
    assert event.data.confirmed is True
    assert event.data.language_id == "en"
    assert event.ts == 1478790852
    assert event.auth.domain == "example.bitrix24.com"
    assert event.auth.client_endpoint == "https://example.bitrix24.com/rest/"
    assert event.auth.server_endpoint == "https://oauth.bitrix.info/rest/"
    assert event.auth.member_id == MEMBER_ID
    assert event.auth.application_token.get_secret_value() == APPLICATION_TOKEN


def test_denied_fixture() -> None:
    event = MethodConfirmEvent.model_validate(
        form_fixture("bitrix24_onappmethodconfirm_denied.form")
    )

    assert event.data.confirmed is False
    assert event.data.method == "voximplant.user.get"
    assert event.auth.member_id == MEMBER_ID


def test_install_fixture() -> None:
    event = InstallEvent.model_validate(form_fixture("bitrix24_onappinstall.form"))

    assert event.event == "ONAPPINSTALL"
    assert event.event_handler_id == 1
    assert event.ts == 1478790000
    assert event.data.version == 1
    assert event.data.language_id == "en"
    assert event.auth.member_id == MEMBER_ID
    assert event.auth.application_token.get_secret_value() == APPLICATION_TOKEN
    # The portal's OAuth tokens are not modelled, so they cannot travel further.
    assert "s6p6eclrvim6da22ft9ch94ekreb52lv" not in event.model_dump_json()


@pytest.mark.parametrize(
    "name",
    [
        "bitrix24_onappinstall.form",
        "bitrix24_onappmethodconfirm_granted.form",
        "bitrix24_onappmethodconfirm_denied.form",
    ],
)
def test_envelope_routes_every_fixture(name: str) -> None:
    envelope = Bitrix24Envelope.model_validate(form_fixture(name))

    assert envelope.event in {"ONAPPINSTALL", "ONAPPMETHODCONFIRM"}
    assert envelope.auth.member_id == MEMBER_ID


def test_envelope_upper_cases_unknown_events() -> None:
    body = granted() | {"event": " onCrmDealAdd "}

    assert Bitrix24Envelope.model_validate(body).event == "ONCRMDEALADD"


def test_documented_server_andpoint_spelling_is_accepted() -> None:
    body = granted()
    body["auth"]["server_andpoint"] = body["auth"].pop("server_endpoint")

    event = MethodConfirmEvent.model_validate(body)

    assert event.auth.server_endpoint == "https://oauth.bitrix.info/rest/"


def test_the_wire_spelling_wins_when_both_are_sent() -> None:
    auth = {
        "member_id": MEMBER_ID,
        "application_token": APPLICATION_TOKEN,
        "server_endpoint": "https://wire/",
        "server_andpoint": "https://docs/",
    }

    assert Bitrix24Auth.model_validate(auth).server_endpoint == "https://wire/"


def test_unknown_keys_are_ignored() -> None:
    body = granted()
    body["auth"] |= {"expires": "1478794452", "user_id": "1", "status": "L", "scope": "crm"}
    body["data"]["EXTRA"] = "x"
    body["unexpected"] = {"nested": ["x"]}

    event = MethodConfirmEvent.model_validate(body)

    assert event.auth.member_id == MEMBER_ID
    assert "expires" not in event.auth.model_dump()


def test_docs_sample_with_empty_domain_and_no_handler_id() -> None:
    body = granted()
    del body["event_handler_id"]
    body["auth"] |= {"domain": "", "client_endpoint": "", "server_endpoint": ""}

    event = MethodConfirmEvent.model_validate(body)

    assert event.event_handler_id is None
    assert event.auth.domain is None
    assert event.auth.server_endpoint is None


def test_blank_event_handler_id_is_absent() -> None:
    assert (
        MethodConfirmEvent.model_validate(granted() | {"event_handler_id": ""}).event_handler_id
        is None
    )


def test_event_name_compares_case_insensitively() -> None:
    assert MethodConfirmEvent.model_validate(granted() | {"event": "OnAppMethodConfirm"}).event == (
        "ONAPPMETHODCONFIRM"
    )


def test_other_events_are_not_method_confirmations() -> None:
    with pytest.raises(ValidationError):
        MethodConfirmEvent.model_validate(granted() | {"event": "ONAPPINSTALL"})


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("0", False), (1, True), (0, False)])
def test_confirmed_accepts_exactly_one_and_zero(value: object, expected: bool) -> None:
    body = granted()
    body["data"]["CONFIRMED"] = value

    assert MethodConfirmEvent.model_validate(body).data.confirmed is expected


@pytest.mark.parametrize(
    "value", ["2", "yes", "true", "Y", "", "01", "-1", 2, -1, 1.0, True, False, None]
)
def test_confirmed_rejects_anything_else(value: object) -> None:
    body = granted()
    body["data"]["CONFIRMED"] = value

    with pytest.raises(ValidationError) as caught:
        MethodConfirmEvent.model_validate(body)

    assert caught.value.errors()[0]["loc"] == ("data", "CONFIRMED")


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("data", "TOKEN"),
        ("data", "METHOD"),
        ("data", "CONFIRMED"),
        ("auth", "member_id"),
        ("auth", "application_token"),
    ],
)
def test_required_fields_are_required(section: str, key: str) -> None:
    body = granted()
    del body[section][key]

    with pytest.raises(ValidationError):
        MethodConfirmEvent.model_validate(body)


@pytest.mark.parametrize("value", ["", "   ", "x" * 257])
def test_token_must_be_present_and_bounded(value: str) -> None:
    body = granted()
    body["data"]["TOKEN"] = value

    with pytest.raises(ValidationError):
        MethodConfirmEvent.model_validate(body)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("data", "METHOD", "a/b"),
        ("data", "METHOD", ".."),
        ("data", "METHOD", "m" * 129),
        ("auth", "member_id", "x" * 65),
        ("auth", "member_id", "../admin"),
        ("auth", "domain", "d" * 256),
        ("auth", "application_token", "t" * 257),
        ("data", "LANGUAGE_ID", "l" * 17),
    ],
)
def test_strings_are_bounded(section: str, key: str, value: str) -> None:
    body = granted()
    body[section][key] = value

    with pytest.raises(ValidationError):
        MethodConfirmEvent.model_validate(body)


@pytest.mark.parametrize("ts", ["", "soon", "-1", "1.5"])
def test_ts_must_be_a_non_negative_integer(ts: str) -> None:
    with pytest.raises(ValidationError):
        MethodConfirmEvent.model_validate(granted() | {"ts": ts})


def test_method_is_lower_cased() -> None:
    body = granted()
    body["data"]["METHOD"] = "VoxImplant.User.Get"

    assert MethodConfirmEvent.model_validate(body).data.method == "voximplant.user.get"


def test_json_shaped_body_validates_like_the_form() -> None:
    body = orjson.loads(
        orjson.dumps(
            {
                "event": "ONAPPMETHODCONFIRM",
                "event_handler_id": 12,
                "data": {
                    "TOKEN": ACCESS_TOKEN,
                    "METHOD": "voximplant.user.get",
                    "CONFIRMED": 1,
                    "LANGUAGE_ID": "en",
                },
                "ts": 1478790852,
                "auth": {
                    "domain": "example.bitrix24.com",
                    "client_endpoint": "https://example.bitrix24.com/rest/",
                    "server_endpoint": "https://oauth.bitrix.info/rest/",
                    "member_id": MEMBER_ID,
                    "application_token": APPLICATION_TOKEN,
                },
            }
        )
    )

    from_json = MethodConfirmEvent.model_validate(body)
    from_form = MethodConfirmEvent.model_validate(granted())

    assert from_json == from_form


def test_secrets_are_masked_in_repr_and_dumps() -> None:
    event = MethodConfirmEvent.model_validate(granted())

    for text in (repr(event), str(event), event.model_dump_json()):
        assert ACCESS_TOKEN not in text
        assert APPLICATION_TOKEN not in text


def test_inbound_message_carries_the_token_hash_only() -> None:
    event = MethodConfirmEvent.model_validate(granted())

    message = InboundMethodConfirm.from_event(event, request_id="req-1", received_at=RECEIVED_AT)
    wire = message.model_dump_json()

    assert message.token_sha256 == hashlib.sha256(ACCESS_TOKEN.encode()).hexdigest()
    assert ACCESS_TOKEN not in wire
    assert APPLICATION_TOKEN not in wire
    assert message.member_id == MEMBER_ID
    assert message.domain == "example.bitrix24.com"
    assert message.method == "voximplant.user.get"
    assert message.confirmed is True
    assert message.language_id == "en"
    assert message.source_ts == 1478790852
    assert InboundMethodConfirm.model_validate_json(wire) == message
    assert BITRIX24_METHOD_CONFIRM_ROUTING_KEY == "bitrix24.onappmethodconfirm"


def _inbound_fields() -> dict[str, Any]:
    event = MethodConfirmEvent.model_validate(granted())
    message = InboundMethodConfirm.from_event(event, request_id="req-1", received_at=RECEIVED_AT)
    return message.model_dump()


@pytest.mark.parametrize(
    "change",
    [
        {"schema_version": 2},
        {"token_sha256": "ABC"},
        {"token_sha256": "A" * 64},
        {"token": ACCESS_TOKEN},
        {"confirmed": "maybe"},
    ],
)
def test_inbound_message_is_strict(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        InboundMethodConfirm.model_validate(_inbound_fields() | change)


def test_inbound_message_is_frozen() -> None:
    message = InboundMethodConfirm.model_validate(_inbound_fields())

    with pytest.raises(ValidationError):
        message.confirmed = False  # type: ignore[misc]


def test_event_data_has_exactly_the_documented_fields() -> None:
    message = InboundMethodConfirm.model_validate(_inbound_fields())

    data = MethodConfirmationData.from_inbound(message)

    assert data.model_dump() == {
        "member_id": MEMBER_ID,
        "domain": "example.bitrix24.com",
        "method": "voximplant.user.get",
        "token_sha256": hashlib.sha256(ACCESS_TOKEN.encode()).hexdigest(),
        "language_id": "en",
        "source_ts": 1478790852,
    }


def test_event_types() -> None:
    assert method_confirmation_event_type(confirmed=True) == "method_confirmation.confirmed"
    assert method_confirmation_event_type(confirmed=False) == "method_confirmation.denied"


def test_registration_body() -> None:
    body = MethodConfirmationRegistration.model_validate(
        {"member_id": MEMBER_ID, "token": ACCESS_TOKEN, "method": "VOXIMPLANT.user.get"}
    )

    assert body.token.get_secret_value() == ACCESS_TOKEN
    assert body.method == "voximplant.user.get"
    assert ACCESS_TOKEN not in body.model_dump_json()
    with pytest.raises(ValidationError):
        MethodConfirmationRegistration.model_validate(
            {"member_id": MEMBER_ID, "token": ACCESS_TOKEN, "method": "m", "extra": 1}
        )


def test_view_status_is_one_of_three() -> None:
    view = {
        "member_id": MEMBER_ID,
        "token_sha256": "0" * 64,
        "method": "voximplant.user.get",
        "status": "pending",
        "created_at": RECEIVED_AT,
        "updated_at": RECEIVED_AT,
    }

    assert MethodConfirmationView.model_validate(view).decided_at is None
    with pytest.raises(ValidationError):
        MethodConfirmationView.model_validate(view | {"status": "waiting"})


def test_portal_token_body() -> None:
    body = PortalTokenBody.model_validate({"application_token": APPLICATION_TOKEN})

    assert body.application_token.get_secret_value() == APPLICATION_TOKEN
    with pytest.raises(ValidationError):
        PortalTokenBody.model_validate({"application_token": ""})


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=10)
    | st.sampled_from(["", " ", "0", "1", "-1", "9" * 30, "ONAPPINSTALL", "onappmethodconfirm"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = st.sampled_from(
    [
        ("event",),
        ("event_handler_id",),
        ("ts",),
        ("data",),
        ("auth",),
        *[("data", key) for key in ("TOKEN", "METHOD", "CONFIRMED", "LANGUAGE_ID", "VERSION")],
        *[("data", key) for key in ("ACTIVE", "INSTALLED")],
        *[
            ("auth", key)
            for key in (
                "domain",
                "client_endpoint",
                "server_endpoint",
                "server_andpoint",
                "member_id",
                "application_token",
            )
        ],
    ]
)
_MODELS = st.sampled_from([MethodConfirmEvent, InstallEvent, Bitrix24Envelope])


@settings(max_examples=400)
@given(model=_MODELS, changes=st.lists(st.tuples(_FIELDS, _JSON), max_size=4))
def test_any_json_value_validates_or_fails_validation(
    model: type[MethodConfirmEvent | InstallEvent | Bitrix24Envelope],
    changes: list[tuple[tuple[str, ...], Any]],
) -> None:
    body: Any = granted()
    for path, value in changes:
        target = body
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = value

    # Anything but a ValidationError (a TypeError, say) would be a 500 in the receiver.
    with contextlib.suppress(ValidationError):
        model.model_validate(body)


@given(body=_JSON)
def test_any_json_document_validates_or_fails_validation(body: Any) -> None:
    for model in (MethodConfirmEvent, InstallEvent, Bitrix24Envelope):
        with contextlib.suppress(ValidationError):
            model.model_validate(body)

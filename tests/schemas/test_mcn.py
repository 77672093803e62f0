"""Lenient parsing of MCN's CDRs and answers."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from schemas import limits
from schemas.mcn import McnPasswordCallResponse, PasswordCallCdr, split_verification_call_uuid
from tests.helpers import fixture_bytes, nested


def test_string_numbers_and_extra_fields() -> None:
    cdr = PasswordCallCdr.model_validate(
        orjson.loads(fixture_bytes("mcn_cdr_no_answer_strings.json"))
    )
    assert cdr.q931_status == 16
    assert cdr.model_dump()["duration"] == "0"


def test_both_uuid_names() -> None:
    a = PasswordCallCdr.model_validate({"verification_uuid": "x_1", "q931_status": 16})
    b = PasswordCallCdr.model_validate({"verification_call_uuid": "x_1", "q931_status": 16})
    assert a.verification_call_uuid == b.verification_call_uuid == "x_1"


@pytest.mark.parametrize(
    ("value", "parts"),
    [("fa278be48dc2_117793", ("fa278be48dc2", "117793")), ("a_b_c", ("a_b", "c"))],
)
def test_split_at_last_underscore(value: str, parts: tuple[str, str]) -> None:
    assert split_verification_call_uuid(value) == parts


@pytest.mark.parametrize(
    "body",
    [
        {"verification_call_uuid": "x_1", "q931_status": True},
        {"verification_call_uuid": "x_1", "q931_status": -1},
        {"verification_call_uuid": "x_1", "q931_status": 16.5},
        {"verification_call_uuid": "_1", "q931_status": 16},
        {"verification_call_uuid": "x_", "q931_status": 16},
        {"verification_call_uuid": "x 1_2", "q931_status": 16},
        {"verification_call_uuid": "x_1", "q931_status": 16, "final_status": "A" * 65},
    ],
)
def test_invalid_cdrs(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PasswordCallCdr.model_validate(body)


def test_initiation_response_fixture() -> None:
    answer = McnPasswordCallResponse.model_validate_json(
        fixture_bytes("mcn_passwordcall_response.json")
    )
    assert answer.ok is True
    assert answer.verification_call_uuid == "da59bda0a1bb_117793"


def test_extras_past_the_webhook_limits_are_refused_in_a_cdr() -> None:
    for extra in (nested(limits.EXTRA_DEPTH + 1), "x" * limits.EXTRAS_BYTES, "\ud800"):
        with pytest.raises(ValidationError):
            PasswordCallCdr.model_validate(
                {"verification_call_uuid": "x_1", "q931_status": 16, "x": extra}
            )


def test_mcn_answer_is_read_whatever_it_adds() -> None:
    """Unlike a webhook's, the answer to a placed call is never refused for its extras."""
    answer = McnPasswordCallResponse.model_validate(
        {
            "ok": True,
            "verification_uuid": "da59bda0a1bb_117793",
            "deep": nested(limits.EXTRA_DEPTH * 3),
            "long": "x" * limits.EXTRAS_BYTES * 2,
        }
    )
    assert (answer.ok, answer.verification_call_uuid) == (True, "da59bda0a1bb_117793")

"""MCN's status table, as plain functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from confirmhub.outcomes import Q850_CAUSES, classify_call_outcome, q850_cause_name
from schemas.events import CallOutcome


@pytest.mark.parametrize(
    ("q931", "final_status", "outcome"),
    [
        (16, "ANSWER", CallOutcome.ANSWERED),
        (16, " Answer ", CallOutcome.ANSWERED),
        (16, "CANCEL", CallOutcome.NO_ANSWER),
        (16, None, CallOutcome.NO_ANSWER),
        (17, "ANSWER", CallOutcome.BUSY),
        (31, None, CallOutcome.REJECTED),
        (41, "ANSWER", CallOutcome.BILLING_FAILED),
        (0, None, CallOutcome.UNAVAILABLE),
        (34, "CANCEL", CallOutcome.UNAVAILABLE),
    ],
)
def test_status_table(q931: int, final_status: str | None, outcome: CallOutcome) -> None:
    assert classify_call_outcome(q931, final_status) is outcome


@given(st.integers(min_value=0, max_value=65535), st.one_of(st.none(), st.text(max_size=10)))
def test_codes_outside_the_table_are_unavailable(q931: int, final_status: str | None) -> None:
    outcome = classify_call_outcome(q931, final_status)
    if q931 not in {16, 17, 31, 41}:
        assert outcome is CallOutcome.UNAVAILABLE


def test_cause_names() -> None:
    assert q850_cause_name(16) == "NORMAL_CLEARING"
    assert q850_cause_name(17) == "USER_BUSY"
    assert q850_cause_name(1) == "UNALLOCATED_NUMBER"
    assert q850_cause_name(999) == "UNKNOWN"
    assert all(name.isupper() for name in Q850_CAUSES.values())

"""Classifying a password call's outcome from its Q.931 status (MCN's table)."""

from __future__ import annotations

from schemas.events import CallOutcome

# ITU-T Q.850 cause names, as telephony stacks print them for operators.
Q850_CAUSES: dict[int, str] = {
    1: "UNALLOCATED_NUMBER",
    2: "NO_ROUTE_TRANSIT_NET",
    3: "NO_ROUTE_DESTINATION",
    6: "CHANNEL_UNACCEPTABLE",
    7: "CALL_AWARDED_DELIVERED",
    16: "NORMAL_CLEARING",
    17: "USER_BUSY",
    18: "NO_USER_RESPONSE",
    19: "NO_ANSWER",
    20: "SUBSCRIBER_ABSENT",
    21: "CALL_REJECTED",
    22: "NUMBER_CHANGED",
    26: "NON_SELECTED_USER_CLEARING",
    27: "DESTINATION_OUT_OF_ORDER",
    28: "INVALID_NUMBER_FORMAT",
    29: "FACILITY_REJECTED",
    30: "RESPONSE_TO_STATUS_ENQUIRY",
    31: "NORMAL_UNSPECIFIED",
    34: "NORMAL_CIRCUIT_CONGESTION",
    38: "NETWORK_OUT_OF_ORDER",
    41: "NORMAL_TEMPORARY_FAILURE",
    42: "SWITCH_CONGESTION",
    43: "ACCESS_INFO_DISCARDED",
    44: "REQUESTED_CHAN_UNAVAIL",
    47: "RESOURCE_UNAVAILABLE",
    50: "FACILITY_NOT_SUBSCRIBED",
    52: "OUTGOING_CALL_BARRED",
    54: "INCOMING_CALL_BARRED",
    57: "BEARERCAPABILITY_NOTAUTH",
    58: "BEARERCAPABILITY_NOTAVAIL",
    63: "SERVICE_UNAVAILABLE",
    65: "BEARERCAPABILITY_NOTIMPL",
    66: "CHAN_NOT_IMPLEMENTED",
    69: "FACILITY_NOT_IMPLEMENTED",
    79: "SERVICE_NOT_IMPLEMENTED",
    81: "INVALID_CALL_REFERENCE",
    88: "INCOMPATIBLE_DESTINATION",
    95: "INVALID_MSG_UNSPECIFIED",
    96: "MANDATORY_IE_MISSING",
    97: "MESSAGE_TYPE_NONEXIST",
    98: "WRONG_MESSAGE",
    99: "IE_NONEXIST",
    100: "INVALID_IE_CONTENTS",
    101: "WRONG_CALL_STATE",
    102: "RECOVERY_ON_TIMER_EXPIRE",
    103: "MANDATORY_IE_LENGTH_ERROR",
    111: "PROTOCOL_ERROR",
    127: "INTERWORKING",
}

UNKNOWN_CAUSE = "UNKNOWN"


def q850_cause_name(q931_status: int) -> str:
    """The Q.850 cause name of a status code, or ``UNKNOWN``."""
    return Q850_CAUSES.get(q931_status, UNKNOWN_CAUSE)


def classify_call_outcome(q931_status: int, final_status: str | None) -> CallOutcome:
    """Map a CDR's Q.931 status and final status to an outcome, per MCN's status table."""
    if q931_status == 16:
        answered = (final_status or "").strip().upper() == "ANSWER"
        return CallOutcome.ANSWERED if answered else CallOutcome.NO_ANSWER
    if q931_status == 17:
        return CallOutcome.BUSY
    if q931_status == 31:
        return CallOutcome.REJECTED
    if q931_status == 41:
        return CallOutcome.BILLING_FAILED
    return CallOutcome.UNAVAILABLE

"""Messages the receiver publishes to ``confirmhub.inbound`` for the workers."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from schemas.base import OwnModel
from schemas.mcn import PasswordCallCdr

INBOUND_EXCHANGE = "confirmhub.inbound"
MCN_CDR_ROUTING_KEY = "mcn.password_call.cdr"


class InboundCdr(OwnModel):
    """One accepted MCN CDR, as queued for a worker."""

    schema_version: Literal[1] = 1
    request_id: str
    received_at: dt.datetime
    cdr: PasswordCallCdr

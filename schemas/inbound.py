"""Messages the receiver publishes to ``confirmhub.inbound`` for the workers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import Field, TypeAdapter

from schemas.base import OwnModel, RequestId
from schemas.bitrix24 import InboundMethodConfirm
from schemas.mcn import PasswordCallCdr

INBOUND_EXCHANGE = "confirmhub.inbound"
MCN_CDR_ROUTING_KEY = "mcn.password_call.cdr"

Item = TypeVar("Item", bound=OwnModel)


class InboundCdr(OwnModel):
    """One accepted MCN CDR, as queued for a worker."""

    schema_version: Literal[1] = 1
    request_id: RequestId
    received_at: dt.datetime
    cdr: PasswordCallCdr


class InboundBatch(OwnModel, Generic[Item]):
    """Messages accepted together (requests that arrived while earlier publishes awaited
    their confirms), queued as one so that the broker's per-message cost is paid once."""

    schema_version: Literal[2] = 2
    items: list[Item] = Field(min_length=1)


class InboundCodec(Generic[Item]):
    """The body of an inbound message: one item (its own schema, version 1) or a batch (2)."""

    def __init__(self, item: type[Item]) -> None:
        self._batch = InboundBatch[item]  # type: ignore[valid-type]
        # Built at run time from ``item``: a type form no checker can follow.
        either: Any = Annotated[item | self._batch, Field(discriminator="schema_version")]
        self._adapter: TypeAdapter[Any] = TypeAdapter(either)

    def decode(self, body: bytes) -> list[Item]:
        """The items of a message body; ValidationError unless it is valid as a whole."""
        message = self._adapter.validate_json(body)
        return list(message.items) if isinstance(message, InboundBatch) else [message]

    def encode(self, items: Sequence[Item]) -> bytes:
        """The message body for ``items``: a lone item keeps its single form."""
        if len(items) == 1:
            return items[0].model_dump_json().encode()
        return self._batch(items=list(items)).model_dump_json().encode()


CDR_MESSAGES = InboundCodec(InboundCdr)
METHOD_CONFIRM_MESSAGES = InboundCodec(InboundMethodConfirm)

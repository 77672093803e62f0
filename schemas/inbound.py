"""Messages the receiver publishes to ``confirmhub.inbound`` for the workers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Generic, Literal, TypeVar

import orjson
from pydantic import Field, TypeAdapter

from schemas.base import OwnModel, RequestId
from schemas.bitrix24 import InboundMethodConfirm
from schemas.mcn import PasswordCallCdr

INBOUND_EXCHANGE = "confirmhub.inbound"
MCN_CDR_ROUTING_KEY = "mcn.password_call.cdr"

Item = TypeVar("Item", bound=OwnModel)

_BATCH_START = b'{"schema_version":2,"items":['
_BATCH_END = b"]}"


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
    """The body of an inbound message: one item (its own schema, version 1) or a batch (2).

    The receiver and the worker read and write it with the same models, so the worker
    decodes whatever the receiver queued. Each item is encoded on its own and a batch only
    joins them, so an item that cannot be encoded fails its own request, not its batch; and
    a batch the worker cannot decode as a whole still comes apart item by item (``parts``).
    """

    def __init__(self, item: type[Item]) -> None:
        self._item = item
        self._batch = InboundBatch[item]  # type: ignore[valid-type]
        # Built at run time from ``item``: a type form no checker can follow.
        either: Any = Annotated[item | self._batch, Field(discriminator="schema_version")]
        self._adapter: TypeAdapter[Any] = TypeAdapter(either)

    def decode(self, body: bytes) -> list[Item]:
        """The items of a message body; ValidationError unless it is valid as a whole."""
        message = self._adapter.validate_json(body)
        return list(message.items) if isinstance(message, InboundBatch) else [message]

    def encode_item(self, item: Item) -> bytes:
        """One item as a message body of its own (the single form)."""
        return item.__pydantic_serializer__.to_json(item)

    def join(self, encoded: Sequence[bytes]) -> bytes:
        """The message body for items already encoded by ``encode_item``."""
        if not encoded:
            raise ValueError("a message holds at least one item")
        if len(encoded) == 1:
            return encoded[0]
        # The same bytes as dumping an InboundBatch of the items, without encoding them again.
        return b"".join((_BATCH_START, b",".join(encoded), _BATCH_END))

    def encode(self, items: Sequence[Item]) -> bytes:
        """The message body for ``items``: a lone item keeps its single form."""
        return self.join([self.encode_item(item) for item in items])

    def parts(self, body: bytes) -> list[bytes]:
        """The items of a batch message as message bodies of their own, valid or not, so that
        each can be handled alone; [] if ``body`` is not a batch of several items."""
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(message, dict) or message.get("schema_version") != 2:
            return []
        items = message.get("items")
        if not isinstance(items, list) or len(items) < 2:
            return []
        try:
            return [orjson.dumps(item) for item in items]
        except orjson.JSONEncodeError:  # nested past what orjson writes (254 levels)
            return []


CDR_MESSAGES = InboundCodec(InboundCdr)
METHOD_CONFIRM_MESSAGES = InboundCodec(InboundMethodConfirm)

"""What the bench sends: the upstream sample payloads, and inbound messages as queued."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from schemas.inbound import CDR_MESSAGES, MCN_CDR_ROUTING_KEY, InboundCdr
from schemas.mcn import PasswordCallCdr

_REPO = Path(__file__).resolve().parents[1]
_SHARED_FIXTURES = _REPO.parent / "shared" / "fixtures"
# The samples live in ../shared/fixtures; tests/fixtures holds a copy for a lone checkout.
FIXTURES = _SHARED_FIXTURES if _SHARED_FIXTURES.is_dir() else _REPO / "tests" / "fixtures"

MCN_PATH = "/webhooks/mcn/password-call"
BITRIX24_PATH = "/webhooks/bitrix24"
MCN_SECRET = "bench-mcn-webhook-secret"  # noqa: S105 - made up for the bench
# The portal of the bitrix24_*.form samples.
PORTAL_MEMBER_ID = "74ef8a46a75104de55d5d4a61b98ab6d"
PORTAL_APPLICATION_TOKEN = "c289487163b58658eae5e8b42eaf11b8"  # noqa: S105 - a sample
ACCOUNT_ID = "117793"
_SINGLE_CDR_SAMPLES = (
    "mcn_cdr_answered.json",
    "mcn_cdr_busy.json",
    "mcn_cdr_no_answer_strings.json",
)


@dataclass(frozen=True, slots=True)
class Payload:
    """One webhook request: where it goes, its headers and its body."""

    name: str
    path: str
    content_type: str
    body: bytes
    authorization: str | None = None

    def headers(self) -> dict[str, str]:
        """The request headers besides Host and Content-Length."""
        headers = {"Content-Type": self.content_type}
        if self.authorization:
            headers["Authorization"] = self.authorization
        return headers

    def with_body(self, body: bytes) -> Payload:
        """The same request with another body."""
        return Payload(self.name, self.path, self.content_type, body, self.authorization)


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes().strip()


def mcn_cdr() -> Payload:
    """MCN's CDR webhook with the ``busy`` sample."""
    return Payload(
        name="MCN CDR (JSON)",
        path=MCN_PATH,
        content_type="application/json",
        body=orjson.dumps(orjson.loads(_fixture("mcn_cdr_busy.json"))),
        authorization=f"Bearer {MCN_SECRET}",
    )


def bitrix24_form() -> Payload:
    """Bitrix24's ONAPPMETHODCONFIRM event as the form it posts."""
    return Payload(
        name="Bitrix24 form",
        path=BITRIX24_PATH,
        content_type="application/x-www-form-urlencoded",
        body=_fixture("bitrix24_onappmethodconfirm_granted.form"),
    )


def new_call_uuid() -> str:
    """A fresh ``<call id>_<account id>`` shaped like MCN's."""
    return f"{uuid.uuid4().hex[:12]}_{ACCOUNT_ID}"


def mcn_cdr_bodies(count: int) -> list[tuple[str, bytes]]:
    """``count`` CDR bodies cycling through the single-CDR samples, each for a new call."""
    samples = itertools.cycle(orjson.loads(_fixture(name)) for name in _SINGLE_CDR_SAMPLES)
    bodies = []
    for sample in itertools.islice(samples, count):
        call_uuid = new_call_uuid()
        bodies.append((call_uuid, orjson.dumps({**sample, "verification_call_uuid": call_uuid})))
    return bodies


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message on ``confirmhub.inbound``, as the receiver publishes it."""

    body: bytes
    message_id: str
    correlation_id: str | None
    message_type: str = MCN_CDR_ROUTING_KEY


def inbound_cdrs(count: int, *, group: int = 1) -> Iterator[InboundMessage]:
    """``count`` CDRs for new calls as the receiver queues them: one per message, or ``group``
    per message as its group commit queues requests that arrive together (``InboundBatch``,
    named and bodied exactly as ``receiver.webhooks.inbound_queue`` does)."""
    calls = iter(mcn_cdr_bodies(count))
    while requests := list(itertools.islice(calls, group)):
        items = [
            InboundCdr(
                request_id=uuid.uuid4().hex,
                received_at=dt.datetime.now(dt.UTC),
                cdr=PasswordCallCdr.model_validate_json(body),
            )
            for _, body in requests
        ]
        first = items[0].request_id
        yield InboundMessage(
            body=CDR_MESSAGES.encode(items),
            message_id=first if len(items) == 1 else f"{first}+{len(items) - 1}",
            correlation_id=first if len(items) == 1 else None,
        )

"""``/api/v1/password-calls``: place a password call and read its state."""

from __future__ import annotations

import datetime as dt

import structlog
from aiohttp import web

from confirmhub.codes import hash_code_async
from confirmhub.db.store import PasswordCallRecord
from confirmhub.outcomes import q850_cause_name
from receiver.body import BodyKind, body_kind, parse_json, read_bounded, validate
from receiver.errors import NotFound, UnsupportedMediaType
from receiver.keys import MCN_CLIENT, SETTINGS, STORE
from schemas.api import PasswordCallView
from schemas.events import CallOutcome
from schemas.mcn import PasswordCallRequest, split_verification_call_uuid

log = structlog.get_logger("confirmhub.receiver")


def password_call_view(record: PasswordCallRecord) -> PasswordCallView:
    """The API view of a stored call; the code hash never leaves the store."""
    return PasswordCallView(
        verification_call_uuid=record.verification_call_uuid,
        call_id=record.call_id,
        account_id=record.account_id,
        status="calling" if record.outcome is None else "completed",
        outcome=None if record.outcome is None else CallOutcome(record.outcome),
        phone_number=record.phone_number,
        q931_status=record.q931_status,
        final_status=record.final_status,
        q850_cause=None if record.q931_status is None else q850_cause_name(record.q931_status),
        initiated_at=record.initiated_at,
        completed_at=record.completed_at,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _json(view: PasswordCallView, *, status: int = 200) -> web.Response:
    return web.Response(status=status, body=view.model_dump_json(), content_type="application/json")


async def create_password_call(request: web.Request) -> web.Response:
    """Place a call through MCN, store it as ``calling``, answer 201."""
    settings = request.app[SETTINGS]
    if body_kind(request) is not BodyKind.JSON:
        raise UnsupportedMediaType("send the password-call request as application/json")
    raw = await read_bounded(request, limit=settings.max_body_bytes)
    call = validate(PasswordCallRequest, parse_json(raw), what="password-call request")
    answer = await request.app[MCN_CLIENT].place_password_call(call)
    assert answer.verification_call_uuid is not None  # the client guarantees it
    code = call.verification_code or answer.verification_code
    call_id, account_id = split_verification_call_uuid(answer.verification_call_uuid)
    code_hash = None if code is None else await hash_code_async(code)
    async with request.app[STORE].transaction() as tx:
        record = await tx.record_initiated_call(
            verification_call_uuid=answer.verification_call_uuid,
            call_id=call_id,
            account_id=account_id,
            phone_number=call.phone_number,
            code_hash=code_hash,
            now=dt.datetime.now(dt.UTC),
        )
    structlog.contextvars.bind_contextvars(verification_call_uuid=record.verification_call_uuid)
    response = _json(password_call_view(record), status=201)
    response.headers["Location"] = f"/api/v1/password-calls/{record.verification_call_uuid}"
    return response


async def get_password_call(request: web.Request) -> web.Response:
    """State and outcome of one call; 404 if unknown."""
    verification_call_uuid = request.match_info["verification_call_uuid"]
    record = await request.app[STORE].get_password_call(verification_call_uuid)
    if record is None:
        raise NotFound(f"no password call {verification_call_uuid!r}")
    return _json(password_call_view(record))

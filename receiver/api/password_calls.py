"""``/api/v1/password-calls``: place a password call, read its state, check its code."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import structlog
from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from confirmhub.codes import code_matches_async
from confirmhub.db import call_endings, sms_attempts, verification
from confirmhub.db.sms_attempts import SmsAttempt
from confirmhub.db.store import PasswordCallRecord
from confirmhub.events import password_call_approved_event, password_call_canceled_event
from confirmhub.outcomes import q850_cause_name
from receiver.api.call_placement import CallPlacer
from receiver.body import read_json_body, validate
from receiver.callers import CALLER
from receiver.errors import AlreadyApproved, Conflict, NotFound
from receiver.idempotency import idempotent
from receiver.keys import MCN_CLIENT, RELAY, SETTINGS, STORE
from receiver.middleware import REQUEST_ID
from schemas.api import CodeCheckResult, PasswordCallStatus, PasswordCallView, SmsAttemptView
from schemas.events import CallOutcome
from schemas.mcn import (
    CodeCheckRequest,
    PasswordCallRequest,
    VerificationCallUuid,
)

log = structlog.get_logger("confirmhub.receiver")


def _attempt_view(attempt: SmsAttempt) -> SmsAttemptView:
    return SmsAttemptView(
        provider=attempt.provider_name,
        round=attempt.send_round,
        state=attempt.state,
        provider_message_id=attempt.provider_message_id,
        delivery=attempt.delivery,  # type: ignore[arg-type]
        delivery_status=attempt.delivery_status,
        delivery_error_code=attempt.delivery_error_code,
        delivery_updated_at=attempt.delivery_updated_at,
    )


def _status(record: PasswordCallRecord) -> PasswordCallStatus:
    if record.verification_status == "canceled":
        return "canceled"
    return "calling" if record.outcome is None else "completed"


def password_call_view(
    record: PasswordCallRecord, attempts: Sequence[SmsAttempt] = ()
) -> PasswordCallView:
    """The API view of a stored call and its SMS attempts; the code and its hash never leave
    the store."""
    # The latest request a provider took (or may have) is the SMS the user is waiting for.
    taken = [attempt for attempt in attempts if attempt.provider_message_id or attempt.delivery]
    return PasswordCallView(
        verification_call_uuid=record.verification_call_uuid,
        call_id=record.call_id,
        account_id=record.account_id,
        status=_status(record),
        outcome=None if record.outcome is None else CallOutcome(record.outcome),
        phone_number=record.phone_number,
        q931_status=record.q931_status,
        final_status=record.final_status,
        q850_cause=None if record.q931_status is None else q850_cause_name(record.q931_status),
        verification_status=record.verification_status,  # type: ignore[arg-type]
        sms_status=record.sms_status,
        sms_provider=record.sms_provider,
        sms_delivery=taken[-1].delivery if taken else None,  # type: ignore[arg-type]
        sms_attempts=[_attempt_view(attempt) for attempt in attempts],
        initiated_at=record.initiated_at,
        completed_at=record.completed_at,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _json(view: PasswordCallView | CodeCheckResult, *, status: int = 200) -> web.Response:
    return web.Response(status=status, body=view.model_dump_json(), content_type="application/json")


async def _json_body(request: web.Request) -> object:
    return await read_json_body(request, limit=request.app[SETTINGS].max_body_bytes)


async def create_password_call(request: web.Request) -> web.Response:
    """Place a call through MCN, at most once, store it as ``calling``, answer 201; with an
    Idempotency-Key, a retry replays the answer (receiver/idempotency.py)."""
    call = validate(PasswordCallRequest, await _json_body(request), what="password-call request")
    placer = CallPlacer(request.app[STORE], request.app[MCN_CLIENT], request.app[SETTINGS])

    async def place() -> web.Response:
        record = await placer.place(call, key_id=request[CALLER].key_id)
        response = _json(password_call_view(record), status=201)
        response.headers["Location"] = f"/api/v1/password-calls/{record.verification_call_uuid}"
        return response

    return await idempotent(request, call.model_dump(mode="json"), place)


_CALL_UUID: TypeAdapter[str] = TypeAdapter(VerificationCallUuid)


def _call_uuid(request: web.Request) -> str:
    """The path's call id; one that cannot be a call id names no call (404)."""
    value = request.match_info["verification_call_uuid"]
    try:
        return _CALL_UUID.validate_python(value)
    except ValidationError:
        raise NotFound("no such password call") from None


async def get_password_call(request: web.Request) -> web.Response:
    """State and outcome of one call; 404 if unknown."""
    verification_call_uuid = _call_uuid(request)
    store = request.app[STORE]
    record = await store.get_password_call(verification_call_uuid)
    if record is None:
        raise NotFound(f"no password call {verification_call_uuid!r}")
    async with store.reading() as connection:
        attempts = await sms_attempts.call_attempts(connection, verification_call_uuid)
    return _json(password_call_view(record, attempts))


async def check_code(request: web.Request) -> web.Response:
    """Check the code a user entered: limited attempts, expiry, one approval."""
    settings = request.app[SETTINGS]
    verification_call_uuid = _call_uuid(request)
    body = validate(CodeCheckRequest, await _json_body(request), what="code check")
    store = request.app[STORE]
    if await store.get_password_call(verification_call_uuid) is None:
        raise NotFound(f"no password call {verification_call_uuid!r}")
    limit = settings.max_code_attempts
    now = dt.datetime.now(dt.UTC)
    async with store.transaction() as tx:
        record, counted = await verification.count_check_attempt(
            tx.connection, verification_call_uuid, max_attempts=limit, now=now
        )
    if record.code_hash is None:
        raise Conflict("this call has no code to check (it was not placed through this service)")
    # scrypt runs outside the transaction: a write lock is never held while hashing.
    valid = counted and await code_matches_async(body.code, record.code_hash)
    async with store.transaction() as tx:
        approved = await verification.settle_check(
            tx.connection, verification_call_uuid, valid=valid, max_attempts=limit, now=now
        )
        event = None
        if approved is not None:
            event = password_call_approved_event(approved, correlation_id=None)
            await tx.add_outbox_events([event])
    if event is not None:
        await request.app[RELAY].publish([event])
    current = await store.get_password_call(verification_call_uuid)
    assert current is not None
    status = current.verification_status
    structlog.contextvars.bind_contextvars(
        verification_call_uuid=verification_call_uuid, code_valid=valid, verification=status
    )
    return _json(
        CodeCheckResult(
            valid=valid,
            status=status,  # type: ignore[arg-type]
            attempts_left=max(0, limit - current.check_attempts) if status == "pending" else 0,
        )
    )


async def cancel_password_call(request: web.Request) -> web.Response:
    """End the verification as ``canceled``: the code stops checking and no SMS goes out.

    Repeating it answers the same; a call whose code was approved is 409. With an
    Idempotency-Key, a retry replays the answer (receiver/idempotency.py).
    """
    verification_call_uuid = _call_uuid(request)
    return await idempotent(request, None, lambda: _cancel(request, verification_call_uuid))


async def _cancel(request: web.Request, verification_call_uuid: str) -> web.Response:
    store = request.app[STORE]
    async with store.transaction() as tx:
        canceled = await call_endings.cancel_call(
            tx.connection, verification_call_uuid, now=dt.datetime.now(dt.UTC)
        )
        event = None
        if canceled is not None and canceled.changed:
            event = password_call_canceled_event(
                canceled.record, correlation_id=request.get(REQUEST_ID)
            )
            await tx.add_outbox_events([event])
    if canceled is None:
        raise NotFound(f"no password call {verification_call_uuid!r}")
    structlog.contextvars.bind_contextvars(
        verification_call_uuid=verification_call_uuid,
        verification=canceled.record.verification_status,
        canceled=canceled.changed,
    )
    if canceled.record.verification_status == "approved":
        raise AlreadyApproved("the code was approved: the verification can no longer be canceled")
    if event is not None:
        await request.app[RELAY].publish([event])
    async with store.reading() as connection:
        attempts = await sms_attempts.call_attempts(connection, verification_call_uuid)
    return _json(password_call_view(canceled.record, attempts))

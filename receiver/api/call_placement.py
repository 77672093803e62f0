"""Placing a password call at most once: record the request, ask MCN, record the call.

The request is written before MCN is asked, and holds its number while its outcome is
unknown (confirmhub/db/call_requests.py). So whatever fails once MCN has been asked — its
answer lost, the database down when the call is to be recorded, the process gone — a retry
finds the number held and is refused, instead of paying for a second call.

| what fails                                      | answer                    | the number |
|-------------------------------------------------|---------------------------|------------|
| recording the request (database): MCN not asked | 503                       | free       |
| MCN refused, or was never reached               | 502 ``upstream-error``    | free       |
| MCN's answer lost (timeout, cut, 5xx, no id)    | 502 ``mcn-answer-lost``   | held       |
| recording the call, within the record budget    | 503 ``call-not-recorded`` | held       |
| recording that MCN refused or lost the answer   | as MCN's failure          | held       |

A request for a held number gets 409 ``call-in-doubt``, and MCN is not asked. The hold ends
once ``cdr_timeout_seconds`` have passed since the holding request began. The claim's
transaction also applies the guards of receiver/api/call_guards.py (live call, limits).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import structlog

from confirmhub.codes import hash_code_async
from confirmhub.crypto import SecretsBox
from confirmhub.db import call_requests, verification
from confirmhub.db.call_requests import CallRequestRecord
from confirmhub.db.engine import is_unavailable
from confirmhub.db.store import PasswordCallRecord, Store
from confirmhub.errors import DatabaseUnavailable
from confirmhub.settings import Settings
from receiver.api.call_guards import check_country, check_number, purge_idle_buckets, refused
from receiver.api.mcn_client import McnClient
from receiver.errors import CallInDoubt, CallNotRecorded, McnAnswerLost, UpstreamError
from schemas.mcn import McnPasswordCallResponse, PasswordCallRequest, split_verification_call_uuid

log = structlog.get_logger("confirmhub.receiver")

# How long a database failing just after MCN placed a call gets to come back before the
# call is reported unrecorded (SQLite's busy timeout waits within an attempt as well).
RECORD_BUDGET_SECONDS = 5.0
_FIRST_RETRY_DELAY = 0.1
_MAX_RETRY_DELAY = 1.0


@asynccontextmanager
async def _database_step() -> AsyncIterator[None]:
    """A database step whose failure means 503: nothing was asked of MCN yet."""
    try:
        yield
    except Exception as exc:
        if is_unavailable(exc):
            raise DatabaseUnavailable(type(exc).__name__) from exc
        raise


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class CallPlacer:
    """Places password calls through MCN, each at most once."""

    def __init__(self, store: Store, mcn: McnClient, settings: Settings) -> None:
        self._store = store
        self._mcn = mcn
        self._settings = settings
        self._hold = dt.timedelta(seconds=settings.cdr_timeout_seconds)

    async def place(self, call: PasswordCallRequest, *, key_id: str) -> PasswordCallRecord:
        """Place ``call`` for the API key ``key_id`` and record it; the errors are tabled in
        the module docstring."""
        self._mcn.require_configured()
        check_country(call.phone_number, self._settings)
        request_id = str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC)
        async with _database_step(), self._store.transaction() as tx:
            holder = await call_requests.claim_number(
                tx.connection,
                request_id=request_id,
                key_id=key_id,
                phone_number=call.phone_number,
                hold=self._hold,
                now=now,
            )
            if holder.id == request_id:
                # A refusal here rolls back the claim and every limit taken with it.
                await check_number(
                    tx.connection,
                    phone_number=call.phone_number,
                    key_id=key_id,
                    settings=self._settings,
                    now=now,
                )
        if holder.id != request_id:
            raise refused(self._held(holder))
        await purge_idle_buckets(self._store, now=now)
        structlog.contextvars.bind_contextvars(call_request_id=request_id)
        held_until = _utc(now + self._hold)
        # A code the client chose is hashed before MCN is asked, so that once MCN has placed
        # the call only the database write remains; a refused request never pays for scrypt.
        code = call.verification_code
        code_hash = None if code is None else await hash_code_async(code)
        try:
            answer = await self._mcn.place_password_call(call)
        except McnAnswerLost as exc:
            log.warning("password_call.in_doubt", error=exc.detail)
            await self._settle(request_id, "in_doubt")
            raise McnAnswerLost(
                f"{exc.detail}; the call may have been placed, so this number is not "
                f"called again before {held_until}"
            ) from exc
        except UpstreamError:
            await self._settle(request_id, "failed")
            raise
        return await self._record(call, answer, request_id=request_id, code_hash=code_hash)

    def _held(self, holder: CallRequestRecord) -> CallInDoubt:
        until = _utc(holder.created_at + self._hold)
        if holder.state == "placing":
            what = "is still being placed, or its outcome is unknown"
        else:
            what = "may have been placed (MCN's answer was lost)"
        return CallInDoubt(
            f"a call to this number requested at {_utc(holder.created_at)} {what}; "
            f"it is not called again before {until}"
        )

    async def _settle(self, request_id: str, state: Literal["failed", "in_doubt"]) -> None:
        """Record how MCN's part ended; if the database fails, the request keeps holding its
        number, which errs on the side of no second call."""
        try:
            async with self._store.transaction() as tx:
                await call_requests.settle_request(
                    tx.connection, request_id, state=state, now=dt.datetime.now(dt.UTC)
                )
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("password_call.request_unsettled", state=state, error=type(exc).__name__)

    async def _record(
        self,
        call: PasswordCallRequest,
        answer: McnPasswordCallResponse,
        *,
        request_id: str,
        code_hash: str | None,
    ) -> PasswordCallRecord:
        """Store the call MCN placed, retrying while the database is away (within
        ``RECORD_BUDGET_SECONDS``): a placed call is paid for, so it is worth the wait."""
        verification_call_uuid = answer.verification_call_uuid
        assert verification_call_uuid is not None  # the client returns named calls only
        structlog.contextvars.bind_contextvars(verification_call_uuid=verification_call_uuid)
        code = call.verification_code or answer.verification_code
        if code_hash is None and code is not None:
            code_hash = await hash_code_async(code)
        box = SecretsBox(self._settings.secrets_key)
        # Kept readable only for the SMS fallback, and only under the secrets key.
        code_encrypted = box.encrypt(code) if code and box.available else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECORD_BUDGET_SECONDS
        delay = _FIRST_RETRY_DELAY
        while True:
            try:
                return await self._record_once(
                    call,
                    verification_call_uuid,
                    request_id=request_id,
                    code_hash=code_hash,
                    code_encrypted=code_encrypted,
                )
            except Exception as exc:
                if is_unavailable(exc) and loop.time() + delay < deadline:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _MAX_RETRY_DELAY)
                    continue
                # The call exists and is paid for: the operator needs its id to reconcile.
                log.error("password_call.not_recorded", error=type(exc).__name__)
                if not is_unavailable(exc):
                    raise
                until = _utc(dt.datetime.now(dt.UTC) + self._hold)
                raise CallNotRecorded(
                    f"MCN placed call {verification_call_uuid}, but the database could not "
                    f"record it; this number is not called again before {until}"
                ) from exc

    async def _record_once(
        self,
        call: PasswordCallRequest,
        verification_call_uuid: str,
        *,
        request_id: str,
        code_hash: str | None,
        code_encrypted: bytes | None,
    ) -> PasswordCallRecord:
        settings = self._settings
        call_id, account_id = split_verification_call_uuid(verification_call_uuid)
        now = dt.datetime.now(dt.UTC)
        async with self._store.transaction() as tx:
            record = await tx.record_initiated_call(
                verification_call_uuid=verification_call_uuid,
                call_id=call_id,
                account_id=account_id,
                phone_number=call.phone_number,
                code_hash=code_hash,
                code_encrypted=code_encrypted,
                code_expires_at=None
                if code_hash is None
                else now + dt.timedelta(seconds=settings.code_ttl_seconds),
                locale=call.locale,
                now=now,
            )
            await call_requests.settle_request(
                tx.connection,
                request_id,
                state="placed",
                verification_call_uuid=verification_call_uuid,
                now=now,
            )
            # The CDR came first: the call already failed, so the fallback is due now.
            if record.outcome in settings.sms_fallback_outcomes:
                await verification.queue_sms(tx.connection, record.verification_call_uuid, now=now)
        return record

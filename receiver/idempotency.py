"""Idempotency keys for POST handlers (the IETF httpapi Idempotency-Key draft).

A client sends ``Idempotency-Key`` (≤ 255 printable characters, a bare or quoted string) to
make a POST safe to retry. Keys belong to the API key that sent them, live 24 h in the
database (so every receiver sees them), and give:

| the key was first sent…                              | answer                          |
|------------------------------------------------------|---------------------------------|
| never (or over 24 h ago)                             | the handler runs                |
| with the same request, answered                      | that answer again, header       |
|                                                      | ``Idempotent-Replayed: true``   |
| with the same request, still running                 | 409 ``idempotency-key-in-use``  |
| with the same request, failed after a call may have  | 409 ``idempotency-key-in-doubt``|
| been placed (MCN's answer lost, the call unrecorded) |                                 |
| with another request (method, path or body)          | 422 ``idempotency-key-reused``  |

A request that ends in an error that did nothing (a refusal, a validation error, a 5xx
before anything was placed) releases its key, so a retry runs afresh. One whose error says
it may have acted (``ReceiverError.may_have_acted``) keeps the key ``in_doubt``. A request
whose process dies keeps its key ``in_progress`` (409) until it expires: a call it may have
placed is never placed again under that key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Awaitable, Callable

import orjson
import structlog
from aiohttp import web

from confirmhub import metrics
from confirmhub.db import idempotency as db
from confirmhub.db.engine import is_unavailable
from confirmhub.db.idempotency import IdempotencyRecord, StoredAnswer
from confirmhub.settings import Settings
from receiver.callers import CALLER
from receiver.errors import (
    IdempotencyKeyInDoubt,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    ReceiverError,
)
from receiver.keys import SETTINGS, STORE
from schemas import limits

log = structlog.get_logger("confirmhub.receiver")

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_TTL = dt.timedelta(hours=24)
# Expired keys purged by each new key's transaction: enough to keep up with any rate of new
# keys, small enough to cost nothing.
PURGE_PER_CLAIM = 20

Action = Callable[[], Awaitable[web.Response]]


def idempotency_key(request: web.Request) -> str | None:
    """The request's Idempotency-Key (unquoted), None if absent; 400 if unusable."""
    value = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]  # the draft's structured-field string form
    if not value or len(value) > limits.IDEMPOTENCY_KEY or not value.isascii():
        raise InvalidIdempotencyKey(
            f"Idempotency-Key must be 1 to {limits.IDEMPOTENCY_KEY} ASCII characters"
        )
    if not value.isprintable():
        raise InvalidIdempotencyKey("Idempotency-Key must be printable characters")
    return value


def request_fingerprint(settings: Settings, method: str, path: str, payload: object) -> str:
    """The SHA-256 (hex) of the request: method, path and canonical JSON body.

    A body may hold a verification code, which a plain hash would give away to anyone able
    to read the table (a 4-digit code is guessed in 10,000 tries): with a secrets key
    configured, the hash is an HMAC under a key derived from it.
    """
    canonical = f"{method} {path}\n".encode() + orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    if settings.secrets_key is None:
        return hashlib.sha256(canonical).hexdigest()
    secret = settings.secrets_key.get_secret_value().split(",")[0].strip().encode()
    key = hmac.new(secret, b"confirmhub idempotency fingerprint", hashlib.sha256).digest()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def _refused(error: ReceiverError) -> ReceiverError:
    metrics.CALLS_REFUSED.labels(error.slug).inc()
    log.info("idempotency.refused", reason=error.slug)
    return error


def _replay(record: IdempotencyRecord) -> web.Response:
    assert record.status is not None
    assert record.body is not None
    response = web.Response(status=record.status, body=record.body)
    if record.content_type:
        response.headers["Content-Type"] = record.content_type
    if record.location:
        response.headers["Location"] = record.location
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _answer(response: web.Response) -> StoredAnswer:
    body = response.body
    if not isinstance(body, bytes):
        # A str body becomes a payload object; its text is what goes out.
        body = (response.text or "").encode(response.charset or "utf-8")
    return StoredAnswer(
        status=response.status,
        content_type=response.headers.get("Content-Type"),
        location=response.headers.get("Location"),
        body=body,
    )


async def idempotent(request: web.Request, payload: object, action: Action) -> web.Response:
    """Run ``action`` for ``request`` (whose parsed body is ``payload``) once per key."""
    key = idempotency_key(request)
    if key is None:
        return await action()
    store, settings = request.app[STORE], request.app[SETTINGS]
    key_id = request[CALLER].key_id
    fingerprint = request_fingerprint(settings, request.method, request.path, payload)
    now = dt.datetime.now(dt.UTC)
    async with store.transaction() as tx:
        holder = await db.claim_key(
            tx.connection, key_id=key_id, key=key, fingerprint=fingerprint, now=now, ttl=KEY_TTL
        )
        if holder is None:
            await db.purge_expired(tx.connection, now=now, limit=PURGE_PER_CLAIM)
    if holder is not None:
        if not hmac.compare_digest(holder.fingerprint, fingerprint):
            raise _refused(
                IdempotencyKeyReused("this Idempotency-Key was first sent with another request")
            )
        if holder.state == "done":
            log.info("idempotency.replayed", status=holder.status)
            return _replay(holder)
        if holder.state == "in_doubt":
            raise _refused(
                IdempotencyKeyInDoubt(
                    "the first request with this Idempotency-Key failed after a call may "
                    "have been placed; it is not repeated under this key"
                )
            )
        raise _refused(
            IdempotencyKeyInUse("the first request with this Idempotency-Key is still running")
        )
    return await _run(request, key_id, key, action)


async def _run(request: web.Request, key_id: str, key: str, action: Action) -> web.Response:
    store = request.app[STORE]
    try:
        response = await action()
    except ReceiverError as exc:
        if exc.may_have_acted:
            await _settle(request, key_id, key, db.mark_in_doubt, outcome="in_doubt")
        else:
            await _settle(request, key_id, key, db.release_key, outcome="released")
        raise
    except Exception:
        await _settle(request, key_id, key, db.release_key, outcome="released")
        raise
    if response.status >= 500:
        await _settle(request, key_id, key, db.release_key, outcome="released")
        return response
    answer = _answer(response)
    try:
        async with store.transaction() as tx:
            await db.finish_key(tx.connection, key_id=key_id, key=key, answer=answer)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        # The answer is sent all the same; a retry gets 409 until the key expires, never a
        # second call.
        log.warning("idempotency.answer_not_kept", error=type(exc).__name__)
    return response


async def _settle(
    request: web.Request,
    key_id: str,
    key: str,
    settle: Callable[..., Awaitable[None]],
    *,
    outcome: str,
) -> None:
    try:
        async with request.app[STORE].transaction() as tx:
            await settle(tx.connection, key_id=key_id, key=key)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        # The key stays in_progress: retries get 409 until it expires, never a second call.
        log.warning("idempotency.key_not_settled", outcome=outcome, error=type(exc).__name__)
    else:
        log.info("idempotency.key_settled", outcome=outcome)

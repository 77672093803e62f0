"""Errors a request can end in, each with one HTTP status.

    ReceiverError
    ├── BadRequest            400  the body cannot be parsed
    │   └── InvalidIdempotencyKey 400  the Idempotency-Key header is empty or too long
    ├── Unauthorized          401  missing or wrong secret, token, API key or portal
    │   └── ReceiptNotAuthentic 401  an SMS receipt's signature is missing or does not verify
    ├── Forbidden             403  the API key lacks the operation's scope
    │   └── CountryNotAllowed 403  the number is outside CONFIRMHUB_CALL_COUNTRIES
    ├── NotFound              404  no such resource
    │   └── UnknownReceipt    404  no SMS sent through the provider matches a receipt
    ├── Conflict              409  the request contradicts stored state
    │   ├── CallInDoubt       409  an earlier request for the number is unresolved
    │   ├── AlreadyApproved   409  a cancel came after the code was approved
    │   ├── LiveCall          409  a call to the number still awaits its CDR
    │   ├── IdempotencyKeyInUse   409  the key's first request is still running
    │   └── IdempotencyKeyInDoubt 409  the key's first request may have placed a call
    ├── RequestTimedOut       408  the request did not fully arrive within the client timeout
    ├── PayloadTooLarge       413  body over the limit
    ├── UnsupportedMediaType  415  content type not JSON or form
    ├── InvalidPayload        422  well-formed but invalid
    │   └── IdempotencyKeyReused  422  the key was first sent with another request
    ├── TooManyRequests       429  a limit refused (with Retry-After)
    │   ├── CallLimitPerNumber    429  CONFIRMHUB_CALL_LIMITS_PER_NUMBER
    │   └── CallLimitPerKey       429  CONFIRMHUB_CALL_LIMITS_PER_KEY
    ├── UpstreamError         502  an outside API failed
    │   └── McnAnswerLost     502  MCN may have placed the call, but its answer is lost
    ├── CallNotRecorded       503  MCN placed the call, the database could not record it
    └── NotConfigured         503  a feature lacks its configuration

Dependency failures (``confirmhub.errors.ServiceUnavailable``) map to 503 with Retry-After.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ReceiverError(Exception):
    """Root of errors that end a request with a problem+json response."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    slug: ClassVar[str] = "internal"
    # Whether the request may have had its effect (a call placed) though it failed: a retry
    # with its Idempotency-Key must then not run it again.
    may_have_acted: ClassVar[bool] = False

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        members: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        # Extension members of the problem body, and headers of the answer.
        self.members = members
        self.headers = headers


class BadRequest(ReceiverError):
    """The body cannot be parsed."""

    status, title, slug = 400, "Bad Request", "unparseable-body"


class InvalidIdempotencyKey(BadRequest):
    """The Idempotency-Key header is empty, too long, or not printable ASCII."""

    slug = "invalid-idempotency-key"


class Unauthorized(ReceiverError):
    """Missing or wrong credentials."""

    status, title, slug = 401, "Unauthorized", "unauthorized"


class ReceiptNotAuthentic(Unauthorized):
    """An SMS delivery receipt whose signature is missing or does not verify."""

    slug = "receipt-not-authentic"


class Forbidden(ReceiverError):
    """The caller is known but may not do this."""

    status, title, slug = 403, "Forbidden", "forbidden"


class CountryNotAllowed(Forbidden):
    """The number's country calling code is not in ``CONFIRMHUB_CALL_COUNTRIES``."""

    slug = "country-not-allowed"


class NotFound(ReceiverError):
    """No such resource."""

    status, title, slug = 404, "Not Found", "not-found"


class UnknownReceipt(NotFound):
    """No SMS sent through the provider matches the receipt (or no such provider)."""

    slug = "unknown-receipt"


class Conflict(ReceiverError):
    """The request contradicts stored state."""

    status, title, slug = 409, "Conflict", "conflict"


class CallInDoubt(Conflict):
    """An earlier request to call the number is in flight or its outcome is unknown."""

    slug = "call-in-doubt"


class LiveCall(Conflict):
    """A call to the number still awaits its CDR; the problem names it."""

    slug = "live-call"


class IdempotencyKeyInUse(Conflict):
    """The first request with this Idempotency-Key is still being processed."""

    slug = "idempotency-key-in-use"


class IdempotencyKeyInDoubt(Conflict):
    """The first request with this Idempotency-Key failed after a call may have been placed."""

    slug = "idempotency-key-in-doubt"


class AlreadyApproved(Conflict):
    """The verification was approved: it can no longer be canceled."""

    slug = "verification-approved"


class RequestTimedOut(ReceiverError):
    """The request's body did not fully arrive within the client timeout."""

    status, title, slug = 408, "Request Timeout", "request-timeout"


class PayloadTooLarge(ReceiverError):
    """The body is over the size limit."""

    status, title, slug = 413, "Payload Too Large", "payload-too-large"


class UnsupportedMediaType(ReceiverError):
    """The content type is neither JSON nor a form."""

    status, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"


class InvalidPayload(ReceiverError):
    """Well-formed but failing validation."""

    status, title, slug = 422, "Unprocessable Content", "invalid-payload"


class IdempotencyKeyReused(InvalidPayload):
    """The Idempotency-Key was first sent with another request."""

    slug = "idempotency-key-reused"


class TooManyRequests(ReceiverError):
    """A limit refused the request; Retry-After says when it would be allowed."""

    status, title, slug = 429, "Too Many Requests", "rate-limited"


class CallLimitPerNumber(TooManyRequests):
    """Too many calls to this number (``CONFIRMHUB_CALL_LIMITS_PER_NUMBER``)."""

    slug = "call-limit-per-number"


class CallLimitPerKey(TooManyRequests):
    """Too many calls by this API key (``CONFIRMHUB_CALL_LIMITS_PER_KEY``)."""

    slug = "call-limit-per-key"


class UpstreamError(ReceiverError):
    """An outside API answered with an error or not at all."""

    status, title, slug = 502, "Bad Gateway", "upstream-error"


class McnAnswerLost(UpstreamError):
    """MCN may have placed the call, but its answer never arrived whole."""

    slug = "mcn-answer-lost"
    may_have_acted = True


class CallNotRecorded(ReceiverError):
    """MCN placed the call, but the database could not record it."""

    status, title, slug = 503, "Service Unavailable", "call-not-recorded"
    may_have_acted = True


class NotConfigured(ReceiverError):
    """The feature needs configuration that is missing."""

    status, title, slug = 503, "Service Unavailable", "not-configured"

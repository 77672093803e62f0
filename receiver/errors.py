"""Errors a request can end in, each with one HTTP status.

    ReceiverError
    ├── BadRequest            400  the body cannot be parsed
    ├── Unauthorized          401  missing or wrong secret, token, API key or portal
    │   └── ReceiptNotAuthentic 401  an SMS receipt's signature is missing or does not verify
    ├── Forbidden             403  the API key lacks the operation's scope
    ├── NotFound              404  no such resource
    │   └── UnknownReceipt    404  no SMS sent through the provider matches a receipt
    ├── Conflict              409  the request contradicts stored state
    │   ├── CallInDoubt       409  an earlier request for the number is unresolved
    │   └── AlreadyApproved   409  a cancel came after the code was approved
    ├── RequestTimedOut       408  the request did not fully arrive within the client timeout
    ├── PayloadTooLarge       413  body over the limit
    ├── UnsupportedMediaType  415  content type not JSON or form
    ├── InvalidPayload        422  well-formed but invalid
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

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class BadRequest(ReceiverError):
    """The body cannot be parsed."""

    status, title, slug = 400, "Bad Request", "unparseable-body"


class Unauthorized(ReceiverError):
    """Missing or wrong credentials."""

    status, title, slug = 401, "Unauthorized", "unauthorized"


class ReceiptNotAuthentic(Unauthorized):
    """An SMS delivery receipt whose signature is missing or does not verify."""

    slug = "receipt-not-authentic"


class Forbidden(ReceiverError):
    """The caller is known but may not do this."""

    status, title, slug = 403, "Forbidden", "forbidden"


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


class UpstreamError(ReceiverError):
    """An outside API answered with an error or not at all."""

    status, title, slug = 502, "Bad Gateway", "upstream-error"


class McnAnswerLost(UpstreamError):
    """MCN may have placed the call, but its answer never arrived whole."""

    slug = "mcn-answer-lost"


class CallNotRecorded(ReceiverError):
    """MCN placed the call, but the database could not record it."""

    status, title, slug = 503, "Service Unavailable", "call-not-recorded"


class NotConfigured(ReceiverError):
    """The feature needs configuration that is missing."""

    status, title, slug = 503, "Service Unavailable", "not-configured"

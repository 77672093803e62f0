"""Credential checks; every secret comparison is constant-time."""

from __future__ import annotations

import hmac

from aiohttp import hdrs, web
from pydantic import SecretStr

from receiver.errors import Unauthorized


def secrets_equal(given: str, expected: str) -> bool:
    """Compare two secrets in constant time (bytes, so non-ASCII input cannot raise)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any."""
    scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_secret(given: str | None, expected: SecretStr | None, *, what: str) -> None:
    """Raise Unauthorized unless ``given`` matches the configured secret."""
    if expected is None:
        raise Unauthorized(f"{what} is not configured on this server; all requests are refused")
    if given is None:
        raise Unauthorized(f"{what} is missing")
    if not secrets_equal(given, expected.get_secret_value()):
        raise Unauthorized(f"{what} is wrong")

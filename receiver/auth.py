"""Credential checks; every secret comparison is constant-time."""

from __future__ import annotations

import hmac

from aiohttp import hdrs, web
from pydantic import SecretStr

from receiver.errors import Unauthorized
from receiver.text import is_text


def secrets_equal(given: str, expected: str) -> bool:
    """Compare two secrets in constant time (bytes, so non-ASCII input cannot raise)."""
    # surrogatepass: a lone surrogate is compared, and fails to match, instead of raising.
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any; Unauthorized for a token
    that is not text (aiohttp hands undecodable header bytes on as lone surrogates)."""
    scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    if not is_text(token):
        raise Unauthorized("the bearer token is not valid UTF-8 text")
    return token


def require_secret(given: str | None, expected: SecretStr | None, *, what: str) -> None:
    """Raise Unauthorized unless ``given`` matches the configured secret."""
    if expected is None:
        raise Unauthorized(f"{what} is not configured on this server; all requests are refused")
    if given is None:
        raise Unauthorized(f"{what} is missing")
    if not secrets_equal(given, expected.get_secret_value()):
        raise Unauthorized(f"{what} is wrong")

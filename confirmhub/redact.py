"""Masking of secrets before anything is printed or logged."""

from __future__ import annotations

import hashlib

MASK = "***"


def redact_url(url: str) -> str:
    """Return ``url`` with the password and any query string replaced by a mask."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        authority = f"{user}:{MASK}@{host}" if colon else authority
    path, question, _query = path.partition("?")
    return f"{scheme}://{authority}{slash}{path}" + (f"?{MASK}" if question else "")


def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a secret, the only form in which tokens are stored or published."""
    return hashlib.sha256(value.encode()).hexdigest()

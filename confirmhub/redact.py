"""Masking of secrets before anything is printed or logged."""

from __future__ import annotations

import hashlib

MASK = "***"
# Query parameters that name where to connect, shown so that an operator sees which hosts a
# multi-host database URL lists; every other parameter's value (a password=, an sslkey=) is
# masked.
_SHOWN_PARAMETERS = frozenset({"host", "port", "target_session_attrs"})


def _redact_query(query: str) -> str:
    shown = []
    for parameter in query.split("&"):
        name, equals, _value = parameter.partition("=")
        if name in _SHOWN_PARAMETERS:
            shown.append(parameter)
        else:
            # A bare parameter could be a secret itself.
            shown.append(f"{name}={MASK}" if equals else MASK)
    return "&".join(shown)


def redact_url(url: str) -> str:
    """Return ``url`` with the password and every query value but the hosts masked."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        authority = f"{user}:{MASK}@{host}" if colon else authority
    path, question, query = path.partition("?")
    return (
        f"{scheme}://{authority}{slash}{path}{question}{_redact_query(query) if question else ''}"
    )


def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a secret, the only form in which tokens are stored or published."""
    return hashlib.sha256(value.encode()).hexdigest()

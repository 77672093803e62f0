"""Masking of secrets before anything is printed or logged."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

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


# A list of URLs is split only where the next one begins, so a comma inside a password
# stays in its URL (and masked) instead of being shown as a "URL" of its own.
_NEXT_URL = re.compile(r",(?=\s*[A-Za-z][A-Za-z0-9+.\-]*://)")
# Userinfo is there when the text after ``scheme://`` begins with a user name and a colon
# or an ``@``; a path (``sqlite:///a@b.db``) begins with ``/``.
_USERINFO = re.compile(r"[^/?#@:]*[:@]")


def redact_url(url: str) -> str:
    """Return ``url`` with the password and every query value but the hosts masked.

    A password is not always percent-encoded as it should be: it may hold ``/``, ``?``,
    ``#``, ``:`` or ``@``. So the userinfo runs to the last ``@`` (masking too much rather
    than too little) and the host, path and query are read after it.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    userinfo = ""
    if "@" in rest and _USERINFO.match(rest):
        credentials, _, rest = rest.rpartition("@")
        user, colon, _password = credentials.partition(":")
        userinfo = f"{user}:{MASK}@" if colon else f"{credentials}@"
    cut = min((index for index in map(rest.find, "?#") if index >= 0), default=len(rest))
    shown = f"{scheme}://{userinfo}{rest[:cut]}"
    if rest[cut : cut + 1] == "?":
        query, hash_mark, _fragment = rest[cut + 1 :].partition("#")
        shown += f"?{_redact_query(query)}"
    else:
        hash_mark = rest[cut : cut + 1]
    return shown + (f"#{MASK}" if hash_mark else "")


def redact_urls(urls: str) -> str:
    """``redact_url`` for each URL of a comma-separated list (``CONFIRMHUB_AMQP_URL``)."""
    return ",".join(redact_url(url.strip()) for url in _NEXT_URL.split(urls))


def redact_text(text: str, *secrets: str) -> str:
    """``text`` with every occurrence of each secret (and of its URL-encoded form) masked;
    for messages of third-party errors, which may quote a URL or password whole."""
    forms = {form for secret in secrets if secret for form in (secret, quote(secret, safe=""))}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a secret, the only form in which tokens are stored or published."""
    return hashlib.sha256(value.encode()).hexdigest()

"""Verification codes are stored only as salted scrypt hashes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

# scrypt makes each guess at a short numeric code expensive even with the table in hand.
_N, _R, _P = 2**14, 8, 1


def _scrypt(code: str, salt: bytes) -> bytes:
    return hashlib.scrypt(code.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)


def hash_code(code: str) -> str:
    """Hash a verification code for storage (``scrypt$salt$digest``)."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(code, salt)
    encode = base64.urlsafe_b64encode
    return f"scrypt${encode(salt).decode()}${encode(digest).decode()}"


def code_matches(code: str, stored: str) -> bool:
    """Whether ``code`` hashes to ``stored``, compared in constant time."""
    scheme, _, rest = stored.partition("$")
    salt_text, _, digest_text = rest.partition("$")
    if scheme != "scrypt" or not salt_text or not digest_text:
        return False
    salt = base64.urlsafe_b64decode(salt_text)
    return hmac.compare_digest(_scrypt(code, salt), base64.urlsafe_b64decode(digest_text))


async def code_matches_async(code: str, stored: str) -> bool:
    """``code_matches`` off the event loop."""
    return await asyncio.to_thread(code_matches, code, stored)


async def hash_code_async(code: str) -> str:
    """``hash_code`` off the event loop (scrypt takes tens of milliseconds)."""
    return await asyncio.to_thread(hash_code, code)

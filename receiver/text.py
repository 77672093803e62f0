"""Client bytes become text here, and only through codecs that cannot smuggle anything in.

A declared charset is the client's word: ``unicode_escape`` turns ``\\ud800`` into a lone
surrogate, ``rot13`` or ``base64`` are not text encodings at all. Only the ordinary text
charsets are decoded, strictly; whatever else is declared is refused with 415. And text that
still holds a lone surrogate (aiohttp hands undecodable header bytes on as ``surrogateescape``)
is refused before it reaches a hash, the database or a JSON encoder.
"""

from __future__ import annotations

import codecs
import functools

from receiver.errors import UnsupportedMediaType

# Python's canonical codec names (codecs.lookup(...).name): UTF-8/16/32, ASCII, the ISO 8859
# and Windows/DOS code pages, KOI8 and the Mac charsets, and the CJK multi-byte charsets;
# all decode strictly and none yields a surrogate.
_SAFE_NAMES = frozenset(
    {
        "utf-8",
        "utf-8-sig",
        "utf-16",
        "utf-16-le",
        "utf-16-be",
        "utf-32",
        "utf-32-le",
        "utf-32-be",
        "ascii",
        "shift_jis",
        "euc_jp",
        "gb2312",
        "gbk",
        "gb18030",
        "big5",
        "euc_kr",
    }
)
_SAFE_PREFIXES = ("iso8859-", "cp", "koi8-", "mac-")


@functools.lru_cache(maxsize=64)
def _codec_name(charset: str) -> str | None:
    try:
        info = codecs.lookup(charset)
    except LookupError:
        return None
    safe = info._is_text_encoding and (  # the codecs module's own flag
        info.name in _SAFE_NAMES or info.name.startswith(_SAFE_PREFIXES)
    )
    return info.name if safe else None


def text_codec(charset: str | None) -> str:
    """The codec for a declared charset (UTF-8 when none is); 415 for any other."""
    if charset is None:
        return "utf-8"
    name = _codec_name(charset.strip().lower()[:40])
    if name is None:
        raise UnsupportedMediaType(
            f"charset {charset[:40]!r} is not supported; send UTF-8 or another common text charset"
        )
    return name


def is_text(value: str) -> bool:
    """Whether ``value`` is text that can be encoded: no lone surrogate in it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

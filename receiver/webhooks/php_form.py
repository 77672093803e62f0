"""Nesting of PHP bracket keys (``data[TOKEN]``, ``a[b][c]``, ``a[]``) from a decoded form.

Bitrix24 posts its events as PHP's ``http_build_query`` writes them, so a form body is turned
into the same structure that PHP's ``parse_str`` (the code behind ``$_POST``) reads, shaped as
``json_encode`` would shape it: nested objects, and lists for arrays whose keys are exactly
``0..n-1`` in order. A form and the equivalent JSON body then validate through the same
models. tests/receiver/test_php_differential.py holds this to PHP itself.

PHP's rules, followed here (PHP 8's ``php_register_variable_ex``):

- A key is cut at its first NUL; leading spaces are dropped, and in the name before the first
  ``[`` each space and dot becomes ``_`` (``a.b`` is ``a_b``). A key left without a name
  (``=x``, ``[a]=x``, ``%20=x``) is skipped.
- ``[segment]`` groups follow the name; a segment runs to the next ``]`` (``a[b[c]]`` is
  ``a["b[c"]``), and an empty one, or one of a single blank (``[ ]``), appends at the array's
  next integer index. Anything after a group that is not another ``[`` is ignored
  (``a[b]c`` is ``a[b]``). A first group without its ``]`` makes the whole key a plain name,
  mangled (``a[b.c`` is ``a_b_c``); a later one ends the key before it (``a[b][c`` is
  ``a[b]``).
- Canonical decimal integers within 64 bits are integer keys (``"01"`` and ``"-0"`` stay
  strings); an append takes one past the highest integer key so far (0 if there is none)
  and is dropped once that would pass ``PHP_INT_MAX``.
- On a conflict the later pair wins, in the earlier one's place: ``a=1&a[b]=2`` gives
  ``{"a": {"b": "2"}}`` and ``a[b]=2&a=1`` gives ``{"a": "1"}``.

Where we differ, on purpose: a key opening more than ``max_depth`` bracket groups is
``InvalidPayload`` (422), where PHP (``max_input_nesting_level``, 64) drops the variable
silently; more than ``max_keys`` pairs is ``PayloadTooLarge`` (413), the status
``parse_form`` gives the same excess, where PHP reads the first ``max_input_vars`` (1,000);
and the top level stays an object even when its keys are ``0..n-1``. Nothing else is raised.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from receiver.errors import InvalidPayload, PayloadTooLarge
from schemas import limits

DEFAULT_MAX_DEPTH = limits.FORM_KEY_DEPTH
DEFAULT_MAX_KEYS = limits.FORM_FIELDS

_PHP_INT_MAX = 2**63 - 1
_PHP_INT_MIN = -(2**63)
# Only canonical decimal integers are integer array keys in PHP ("01" stays a string); 19
# digits at most, which also keeps int() clear of its 4300-digit limit.
_INTEGER_KEY = re.compile(r"0|-?[1-9][0-9]{0,18}")
# C's isspace(): a group holding one of these alone appends, like "[]".
_BLANKS = frozenset(" \t\n\v\f\r")
_NAME_MANGLING = str.maketrans(" .", "__")
_UNTERMINATED_MANGLING = str.maketrans(" .[", "___")


def _integer_key(key: str) -> int | None:
    if _INTEGER_KEY.fullmatch(key) is None:
        return None
    index = int(key)
    return index if _PHP_INT_MIN <= index <= _PHP_INT_MAX else None


class _PhpArray(dict[str, Any]):
    """An ordered PHP array: keys in insertion order plus the next free integer index."""

    def __init__(self) -> None:
        super().__init__()
        self.next_index: int | None = None  # None until an integer key arrives

    def assign(self, key: str | None, value: Any) -> bool:
        """Set ``key`` (``None`` appends) as PHP does; False for an append PHP refuses."""
        if key is None:
            index: int | None = 0 if self.next_index is None else self.next_index
            key = str(index)
            if key in self:  # the next index is PHP_INT_MAX and taken
                return False
        else:
            index = _integer_key(key)
        if index is not None and (self.next_index is None or index >= self.next_index):
            self.next_index = index + 1 if index < _PHP_INT_MAX else _PHP_INT_MAX
        self[key] = value
        return True


@dataclass(frozen=True, slots=True)
class PhpKey:
    """A form key as PHP reads it: the top-level name, the segments under it (``None``
    appends), and how many bracket groups it opened (what PHP's nesting limit counts)."""

    name: str
    path: tuple[str | None, ...]
    depth: int


# Senders use the same few dozen keys in every event: split each once. Bounded, so keys
# made up by a hostile sender only cycle the cache.
@functools.lru_cache(maxsize=4096)
def split_php_key(key: str) -> PhpKey | None:
    """``a[b][]`` → ``PhpKey("a", ("b", None), 2)``; ``None`` for a key PHP skips."""
    key = key.partition("\0")[0].lstrip(" ")
    opened = key.find("[")
    if opened < 0:
        return PhpKey(key.translate(_NAME_MANGLING), (), 0) if key else None
    name = key[:opened].translate(_NAME_MANGLING)
    if not name:
        return None
    path: list[str | None] = []
    while True:
        start = opened + 1
        blank = start < len(key) and key[start] in _BLANKS
        if key.startswith("]", start + blank):
            path.append(None)
            closed = start + blank
        else:
            closed = key.find("]", start + blank)
            if closed < 0:
                if path:
                    return PhpKey(name, tuple(path), len(path) + 1)
                return PhpKey(f"{name}_{key[start:].translate(_UNTERMINATED_MANGLING)}", (), 1)
            path.append(key[start:closed])
        if not key.startswith("[", closed + 1):
            return PhpKey(name, tuple(path), len(path))
        opened = closed + 1


def nest_php_form(
    pairs: list[tuple[str, str]],
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_keys: int = DEFAULT_MAX_KEYS,
) -> dict[str, Any]:
    """Nest decoded form pairs by their PHP bracket keys, as ``parse_str`` would."""
    if len(pairs) > max_keys:
        raise PayloadTooLarge(f"form has {len(pairs)} fields, over the limit of {max_keys}")
    root = _PhpArray()
    for key, value in pairs:
        php_key = split_php_key(key)
        if php_key is None:
            continue
        if php_key.depth > max_depth:
            # The key itself is echoed: form keys are field names, never secrets.
            raise InvalidPayload(
                f"form key {key[:64]!r} nests {php_key.depth} levels, over the limit of {max_depth}"
            )
        _assign_path(root, php_key, value)
    return {key: _to_json_shape(value) for key, value in root.items()}


def _assign_path(root: _PhpArray, php_key: PhpKey, value: str) -> None:
    """Walk the key's path from ``root``, replacing any scalar in the way with a new array;
    an append PHP refuses drops the value, as PHP does."""
    array: _PhpArray = root
    key: str | None = php_key.name
    for segment in php_key.path:
        child = array.get(key) if key is not None else None
        if not isinstance(child, _PhpArray):
            child = _PhpArray()
            if not array.assign(key, child):
                return
        array, key = child, segment
    array.assign(key, value)


def _to_json_shape(value: Any) -> Any:
    """Turn arrays into dicts, or lists where the keys are ``0..n-1`` in order."""
    if not isinstance(value, _PhpArray):
        return value
    items = {key: _to_json_shape(child) for key, child in value.items()}
    if list(items) == [str(index) for index in range(len(items))]:
        return list(items.values())
    return items

"""Nesting of PHP bracket keys (``data[TOKEN]``, ``a[b][c]``, ``a[]``) from a decoded form.

Bitrix24 posts its events as PHP's ``http_build_query`` writes them, so a form body is turned
into the same structure that ``json_encode($_POST)`` would give: nested objects, and lists for
arrays whose keys are exactly ``0..n-1`` in order. A form and the equivalent JSON body then
validate through the same models.

Rules, chosen so that no well-formed Bitrix24 event is ever refused (it does not retry):

- A key is ``name`` followed by zero or more ``[segment]`` groups; ``[]`` appends at the next
  integer index, as PHP does.
- A key that does not have that shape (``a[b``, ``a[b]c``, ``a[b[c]]``) is kept whole as a
  plain top-level key. PHP mangles such keys instead (``a[b`` becomes ``a_b``); we do not,
  since no model reads them and refusing them would lose the event.
- A key with an empty name (``=x``, ``[a]=x``) is skipped, as PHP skips it.
- On a conflict the later pair wins, as in PHP: ``a=1&a[b]=2`` gives ``{"a": {"b": "2"}}``
  and ``a[b]=2&a=1`` gives ``{"a": "1"}``.
- More than ``max_depth`` bracket groups in one key is ``InvalidPayload`` (422); more than
  ``max_keys`` pairs is ``PayloadTooLarge`` (413), the status ``parse_form`` gives the same
  excess. Nothing else is raised.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from receiver.errors import InvalidPayload, PayloadTooLarge

DEFAULT_MAX_DEPTH = 5
DEFAULT_MAX_KEYS = 512

# The whole key must be a name without "[" followed only by complete bracket groups.
_STRUCTURED_KEY = re.compile(r"([^\[]*)((?:\[[^\[\]]*\])+)")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
# Only canonical decimal integers are integer array keys in PHP ("01" stays a string); we
# stop at 18 digits, inside 64 bits, which also keeps int() clear of its 4300-digit limit.
_INTEGER_KEY = re.compile(r"0|-?[1-9][0-9]{0,17}")


class _PhpArray(dict[str, Any]):
    """An ordered PHP array: string keys plus the next free integer index for ``[]``."""

    def __init__(self) -> None:
        super().__init__()
        self.next_index = 0

    def assign(self, key: str | None, value: Any) -> None:
        """Set ``key`` (``None`` appends), keeping the next free index as PHP does."""
        if key is None:
            key = str(self.next_index)
        if _INTEGER_KEY.fullmatch(key) is not None:
            # Negative indexes never advance the counter, matching PHP before 8.3.
            self.next_index = max(self.next_index, int(key) + 1)
        self[key] = value


# Senders use the same few dozen keys in every event: split each once. Bounded, so keys
# made up by a hostile sender only cycle the cache.
@functools.lru_cache(maxsize=4096)
def split_php_key(key: str) -> tuple[str, tuple[str | None, ...]] | None:
    """``a[b][]`` → ``("a", ("b", None))``; ``None`` if the key has no bracket groups."""
    match = _STRUCTURED_KEY.fullmatch(key)
    if match is None:
        return None
    name, groups = match.groups()
    return name, tuple(segment or None for segment in _SEGMENT.findall(groups))


def nest_php_form(
    pairs: list[tuple[str, str]],
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_keys: int = DEFAULT_MAX_KEYS,
) -> dict[str, Any]:
    """Nest decoded form pairs by their PHP bracket keys, as ``json_encode($_POST)`` would."""
    if len(pairs) > max_keys:
        raise PayloadTooLarge(f"form has {len(pairs)} fields, over the limit of {max_keys}")
    root = _PhpArray()
    for key, value in pairs:
        split = split_php_key(key)
        if split is None:
            if key:
                root.assign(key, value)
            continue
        name, segments = split
        if not name:
            continue
        if len(segments) > max_depth:
            # The key itself is echoed: form keys are field names, never secrets.
            raise InvalidPayload(
                f"form key {key[:64]!r} nests {len(segments)} levels, over the limit of {max_depth}"
            )
        _assign_path(root, [name, *segments], value)
    return {key: _to_json_shape(value) for key, value in root.items()}


def _assign_path(root: _PhpArray, path: list[str | None], value: str) -> None:
    """Walk ``path`` from ``root``, replacing any scalar in the way with a new array."""
    array = root
    for segment in path[:-1]:
        child = array.get(segment) if segment is not None else None
        if not isinstance(child, _PhpArray):
            child = _PhpArray()
            array.assign(segment, child)
        array = child
    array.assign(path[-1], value)


def _to_json_shape(value: Any) -> Any:
    """Turn arrays into dicts, or lists where the keys are ``0..n-1`` in order."""
    if not isinstance(value, _PhpArray):
        return value
    items = {key: _to_json_shape(child) for key, child in value.items()}
    if list(items) == [str(index) for index in range(len(items))]:
        return list(items.values())
    return items

"""What the protections around placing a call are configured with: rates and countries.

A rate is ``count/seconds``: at most ``count`` within any ``seconds`` (GCRA, so a full burst
is allowed, then one more every ``seconds / count``). Several rates are joined by commas and
every one must allow. Countries are E.164 calling codes, matched as the longest prefix of a
number's digits.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_RATE = re.compile(r"^\s*([0-9]{1,9})\s*/\s*([0-9]{1,9})\s*$")
_CALLING_CODE = re.compile(r"^[1-9][0-9]{0,2}$")


@dataclass(frozen=True, slots=True, order=True)
class Rate:
    """At most ``count`` events within any ``seconds``."""

    count: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}"

    @property
    def interval_ms(self) -> int:
        """The time one event uses up of the window (GCRA's emission interval)."""
        return math.ceil(self.seconds * 1000 / self.count)


def parse_rates(text: str) -> tuple[Rate, ...]:
    """``"5/600,20/86400"`` as rates; empty text means no limit. ValueError names the part."""
    rates = []
    for part in text.split(","):
        if not part.strip():
            continue
        match = _RATE.match(part)
        if match is None or int(match[1]) < 1 or int(match[2]) < 1:
            raise ValueError(f"{part.strip()!r} is not count/seconds with both at least 1")
        rates.append(Rate(int(match[1]), int(match[2])))
    return tuple(sorted(set(rates)))


def parse_calling_codes(text: str) -> frozenset[str]:
    """``"421,420"`` as calling codes; empty text means every country."""
    codes = {part.strip().removeprefix("+") for part in text.split(",") if part.strip()}
    for code in codes:
        if not _CALLING_CODE.match(code):
            raise ValueError(f"{code!r} is not an E.164 country calling code (1 to 3 digits)")
    return frozenset(codes)


def calling_code_allowed(phone_number: str, codes: frozenset[str]) -> bool:
    """Whether the number's calling code is one of ``codes`` (every number if none).

    The longest listed code that prefixes the digits decides; E.164 codes are prefix-free,
    so any listed prefix is the number's own code.
    """
    if not codes:
        return True
    digits = phone_number.removeprefix("+")
    return any(digits[:length] in codes for length in (3, 2, 1))

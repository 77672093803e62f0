"""The targets of issue 15, and how a figure is judged against one and written down."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Receiver: throughput against the naive receiver (b), per payload; p99 at 1,000 req/s.
THROUGHPUT_VS_NAIVE = {"MCN CDR (JSON)": 1.5, "Bitrix24 form": 1.25}
LATENCY_RATE = 1000
LATENCY_P99_MS = 10.0
# End to end: p99 at 1,000 req/s, and the knee (the highest rate with p99 within 100 ms).
E2E_RATE = 1000
E2E_P99_MS = 50.0
KNEE_P99_MS = 100.0
KNEE_RATE = 2000
# Worker: against the relay floor (d) per message shape, and against the naive worker (e).
WORKER_VS_RELAY = {"single": 0.8, "grouped": 0.95}
WORKER_VS_NAIVE = 3.0
# Memory and the table size: as they are.
TABLE_TOLERANCE = 0.10
RSS_LIMIT_MIB = 120.0
RSS_GROWTH_TOLERANCE_MIB = 1.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether one target is met, and by how much."""

    target: str
    passed: bool
    detail: str

    def cell(self) -> str:
        """``PASS`` or ``FAIL`` with the margin."""
        return f"{'PASS' if self.passed else 'FAIL'}: {self.detail}"


def at_least(target: str, actual: float, required: float, unit: str = "x") -> Verdict:
    """A ``≥`` target on a ratio (``x``) or a rate (``req/s``)."""
    shown = f"{actual:.2f}x" if unit == "x" else f"{rate(actual)} {unit}"
    if math.isnan(actual):
        return Verdict(target, False, "not measured")
    if actual >= required:
        return Verdict(target, True, f"{shown} ({(actual / required - 1) * 100:.0f}% above)")
    return Verdict(target, False, f"{shown} ({(1 - actual / required) * 100:.0f}% short)")


def at_most(
    target: str, actual: float, limit: float, unit: str, *, infinite: str = "some never answered"
) -> Verdict:
    """A ``≤`` target (an infinite actual never passes)."""
    shown = ms(actual) if unit == "ms" else f"{actual:.1f}"
    if math.isinf(actual):
        return Verdict(target, False, infinite)
    if actual <= limit:
        return Verdict(target, True, f"{shown} {unit} ({(1 - actual / limit) * 100:.0f}% under)")
    return Verdict(target, False, f"{shown} {unit} ({actual / limit:.1f}x the limit)")


def within(target: str, ratio: float, tolerance: float) -> Verdict:
    """A slowdown of at most ``tolerance`` (a speed-up always passes)."""
    change = f"{(ratio - 1) * 100:+.1f}%"
    return Verdict(target, ratio >= 1 - tolerance, f"{change} (allowed -{tolerance:.0%})")


def rate(value: float) -> str:
    """Requests or messages per second."""
    return f"{value:,.0f}"


def ms(value: float) -> str:
    """Milliseconds, readable at any size."""
    if math.isinf(value):
        return "∞"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"

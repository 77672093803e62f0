"""The results table: one row per measurement, baselines beside ours, and a verdict per target."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.drain import TableSizeResult, WorkerDrainResult
from bench.e2e import EndToEnd
from bench.memory import Soak
from bench.receiver import Latency, ReceiverResults
from bench.servers import SERVER_NAMES

# The targets of the issue.
THROUGHPUT_VS_NAIVE = 1.25
LATENCY_RATE = 1000
LATENCY_P99_MS = 10.0
E2E_P99_MS = 50.0
DRAIN_VS_RAW = 0.5
TABLE_TOLERANCE = 0.10
RSS_LIMIT_MIB = 120.0
RSS_GROWTH_TOLERANCE_MIB = 1.0

_COLUMNS = (
    "#",
    "measurement",
    "confirmhub",
    "naive (b)",
    "no-op (a)",
    "raw consume (c)",
    "ratio",
    "target",
    "result",
)


@dataclass(slots=True)
class Results:
    """Everything one bench run measured; a part not run stays None."""

    receivers: ReceiverResults | None = None
    e2e: EndToEnd | None = None
    soak: Soak | None = None
    drain: WorkerDrainResult | None = None
    table: TableSizeResult | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether one target is met, and by how much."""

    target: str
    passed: bool
    detail: str

    def cell(self) -> str:
        """``PASS`` or ``FAIL`` with the margin."""
        return f"{'PASS' if self.passed else 'FAIL'}: {self.detail}"


def at_least(target: str, actual: float, required: float) -> Verdict:
    """A ``≥`` target on a ratio."""
    if actual >= required:
        return Verdict(target, True, f"{actual:.2f}x ({(actual / required - 1) * 100:.0f}% above)")
    return Verdict(target, False, f"{actual:.2f}x ({(1 - actual / required) * 100:.0f}% short)")


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


def _latency(latency: Latency | None) -> str:
    if latency is None:
        return "—"
    cell = f"{ms(latency.p50)} / {ms(latency.p99)} / {ms(latency.p999)}"
    return cell if latency.errors == 0 else f"{cell} ({latency.errors} unanswered)"


class Table:
    """Rows of the markdown table, and the verdicts collected while building them."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []
        self.verdicts: list[Verdict] = []

    def add(self, *cells: str, verdict: Verdict | None = None) -> None:
        """One row; ``verdict`` fills its target and result cells."""
        if verdict is not None:
            self.verdicts.append(verdict)
            cells = (*cells, verdict.target, verdict.cell())
        else:
            cells = (*cells, "—", "—")
        self.rows.append(cells)

    def markdown(self) -> str:
        """The table as GitHub markdown."""
        lines = [
            "| " + " | ".join(_COLUMNS) + " |",
            "|" + "|".join("---" for _ in _COLUMNS) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


def _receivers(table: Table, results: ReceiverResults, seconds: float) -> None:
    for payload, ours in results.throughput.get("confirmhub", {}).items():
        naive = results.throughput.get("naive", {}).get(payload)
        noop = results.throughput.get("no-op", {}).get(payload)
        ratio = ours.rate / naive.rate if naive else math.nan
        table.add(
            "1",
            f"Receiver throughput, {payload}, closed loop (req/s, {seconds:g} s)",
            rate(ours.rate),
            rate(naive.rate) if naive else "—",
            rate(noop.rate) if noop else "—",
            "—",
            f"{ratio:.2f}x naive" + (f" · {ours.rate / noop.rate:.2f}x no-op" if noop else ""),
            verdict=at_least(f"≥ {THROUGHPUT_VS_NAIVE}x naive", ratio, THROUGHPUT_VS_NAIVE)
            if naive
            else None,
        )
    for offered, ours_latency in results.latency.get("confirmhub", {}).items():
        naive_latency = results.latency.get("naive", {}).get(offered)
        noop_latency = results.latency.get("no-op", {}).get(offered)
        comparison = "—"
        if naive_latency and math.isfinite(ours_latency.p99 + naive_latency.p99):
            comparison = f"p99 {ours_latency.p99 / naive_latency.p99:.1f}x naive"
        table.add(
            "2",
            f"Receiver latency at {offered:,} req/s offered, p50 / p99 / p99.9 (ms)",
            _latency(ours_latency),
            _latency(naive_latency),
            _latency(noop_latency),
            "—",
            comparison,
            verdict=at_most(f"p99 ≤ {LATENCY_P99_MS:g} ms", ours_latency.p99, LATENCY_P99_MS, "ms")
            if offered == LATENCY_RATE
            else None,
        )


def _e2e(table: Table, e2e: EndToEnd) -> None:
    arrived = (
        "" if e2e.arrived == e2e.sent else f" ({e2e.sent - e2e.arrived:,} late > {e2e.wait:g} s)"
    )
    table.add(
        "3",
        f"End-to-end POST → event at {e2e.rate:,.0f} req/s offered, p50 / p99 (ms)",
        f"{ms(e2e.p50)} / {ms(e2e.p99)}{arrived}",
        "—",
        "—",
        "—",
        f"HTTP p99 {ms(e2e.http_p99)} ms",
        verdict=at_most(
            f"p99 ≤ {E2E_P99_MS:g} ms",
            e2e.p99,
            E2E_P99_MS,
            "ms",
            infinite=f"over 1% of events later than {e2e.wait:g} s",
        ),
    )


def _drain(table: Table, drain: WorkerDrainResult) -> None:
    ratio = drain.worker.rate / drain.raw.rate
    table.add(
        "4",
        f"Worker drain, {drain.worker.messages:,} CDRs, PostgreSQL (msg/s)",
        rate(drain.worker.rate),
        "—",
        "—",
        rate(drain.raw.rate),
        f"{ratio:.2f}x raw",
        verdict=at_least(f"≥ {DRAIN_VS_RAW}x raw", ratio, DRAIN_VS_RAW),
    )


def _memory(table: Table, results: Results) -> None:
    soak = results.soak
    memory = results.receivers.memory if results.receivers is not None else {}
    if soak is not None:
        table.add(
            "5",
            f"Receiver RSS after {soak.requests_at_count:,} requests (MiB)",
            f"{soak.rss_at_count:.1f}",
            "—",
            "—",
            "—",
            "—",
            verdict=at_most(f"≤ {RSS_LIMIT_MIB:g} MiB", soak.rss_at_count, RSS_LIMIT_MIB, "MiB"),
        )
        growth = soak.growth_last_half
        table.add(
            "5",
            f"Receiver RSS growth over the last half of a {soak.seconds:.0f} s soak (MiB)",
            f"{growth:+.2f} ({soak.slope_last_half:+.2f} MiB/min)",
            "—",
            "—",
            "—",
            "—",
            verdict=Verdict(
                f"no growth (≤ {RSS_GROWTH_TOLERANCE_MIB:g} MiB)",
                growth <= RSS_GROWTH_TOLERANCE_MIB,
                f"{growth:+.2f} MiB",
            ),
        )
    peaks = {name: m.peak_mib for name, m in memory.items()}
    if soak is not None:
        peaks["confirmhub"] = max(peaks.get("confirmhub", 0.0), soak.memory.peak_mib)
    if peaks:
        cells = [f"{peaks[name]:.1f}" if name in peaks else "—" for name in SERVER_NAMES]
        table.add("5", "Receiver peak RSS, VmHWM (MiB)", *cells, "—", "—")
    worker_peaks = [
        drain.memory.peak_mib
        for drain in (
            *((results.drain.worker,) if results.drain else ()),
            *((*results.table.empty, *results.table.full) if results.table else ()),
        )
        if drain.memory is not None
    ]
    if results.e2e is not None:
        worker_peaks.append(results.e2e.worker_memory.peak_mib)
    if worker_peaks:
        table.add("5", "Worker peak RSS, VmHWM (MiB)", f"{max(worker_peaks):.1f}", *("—",) * 4)


def _table_size(table: Table, result: TableSizeResult) -> None:
    ratio = result.full_rate / result.empty_rate
    rounds = " · ".join(
        f"{kind} {', '.join(rate(d.rate) for d in drains)}"
        for kind, drains in (("empty", result.empty), ("full", result.full))
    )
    table.add(
        "6",
        f"Worker rate, {result.empty[0].messages:,} new calls per drain: empty table → "
        f"{result.rows:,} calls, drains in ABBA order (msg/s)",
        f"{rate(result.empty_rate)} → {rate(result.full_rate)} ({rounds})",
        "—",
        "—",
        "—",
        f"{ratio:.2f}x",
        verdict=within(f"within {TABLE_TOLERANCE:.0%}", ratio, TABLE_TOLERANCE),
    )


def build_table(results: Results, *, seconds: float) -> Table:
    """The table of every measurement that ran."""
    table = Table()
    if results.receivers is not None:
        _receivers(table, results.receivers, seconds)
    if results.e2e is not None:
        _e2e(table, results.e2e)
    if results.drain is not None:
        _drain(table, results.drain)
    _memory(table, results)
    if results.table is not None:
        _table_size(table, results.table)
    return table

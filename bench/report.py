"""The results table: one row per measurement, baselines beside ours, verdicts per target.

Each row compares confirmhub with what a user would write instead (naive: the receiver (b),
the worker (e)) and with a floor no implementation can beat (the no-op server (a), the relay
(d)); raw consume (c) stays beside the worker as the broker's own ceiling, for context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.e2e import EndToEnd
from bench.knee import Knee
from bench.lab import Memory
from bench.memory import Soak
from bench.receiver import Latency, ReceiverResults
from bench.table_size import TableSizeResult
from bench.verdicts import (
    E2E_P99_MS,
    KNEE_RATE,
    LATENCY_P99_MS,
    LATENCY_RATE,
    RSS_GROWTH_TOLERANCE_MIB,
    RSS_LIMIT_MIB,
    TABLE_TOLERANCE,
    THROUGHPUT_VS_NAIVE,
    WORKER_VS_NAIVE,
    WORKER_VS_RELAY,
    Verdict,
    at_least,
    at_most,
    ms,
    rate,
    within,
)
from bench.worker_rates import Shape, WorkerRates

_COLUMNS = (
    "#",
    "measurement",
    "confirmhub",
    "naive (b, e)",
    "floor (a, d)",
    "raw consume (c)",
    "ratio",
    "target",
    "result",
)
_NONE = "—"


@dataclass(slots=True)
class Results:
    """Everything one bench run measured; a part not run stays None."""

    receivers: ReceiverResults | None = None
    e2e: EndToEnd | None = None
    knee: Knee | None = None
    soak: Soak | None = None
    workers: WorkerRates | None = None
    table: TableSizeResult | None = None


class Table:
    """Rows of the markdown table, and the verdicts collected while building them."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []
        self.verdicts: list[Verdict] = []

    def add(self, *cells: str, verdicts: tuple[Verdict, ...] = ()) -> None:
        """One row; ``verdicts`` fill its target and result cells."""
        self.verdicts.extend(verdicts)
        if verdicts:
            cells = (
                *cells,
                "; ".join(verdict.target for verdict in verdicts),
                "; ".join(verdict.cell() for verdict in verdicts),
            )
        else:
            cells = (*cells, _NONE, _NONE)
        self.rows.append(cells)

    def markdown(self) -> str:
        """The table as GitHub markdown."""
        lines = [
            "| " + " | ".join(_COLUMNS) + " |",
            "|" + "|".join("---" for _ in _COLUMNS) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


def _latency(latency: Latency | None) -> str:
    if latency is None:
        return _NONE
    cell = f"{ms(latency.p50)} / {ms(latency.p99)} / {ms(latency.p999)}"
    return cell if latency.errors == 0 else f"{cell} ({latency.errors} unanswered)"


def _runs(count: int) -> str:
    return "" if count <= 1 else f", median of {count}"


def _throughput(table: Table, results: ReceiverResults, seconds: float) -> None:
    for payload, runs in results.throughput.get("confirmhub", {}).items():
        ours = results.throughput_rate("confirmhub", payload) or math.nan
        naive = results.throughput_rate("naive", payload)
        noop = results.throughput_rate("no-op", payload)
        ratio = ours / naive if naive else math.nan
        required = THROUGHPUT_VS_NAIVE.get(payload, 1.0)
        table.add(
            "1",
            f"Receiver throughput, {payload}, closed loop (req/s, {seconds:g} s{_runs(len(runs))})",
            rate(ours),
            rate(naive) if naive else _NONE,
            f"{rate(noop)} no-op" if noop else _NONE,
            _NONE,
            f"{ratio:.2f}x naive" + (f" · {ours / noop:.2f}x no-op" if noop else ""),
            verdicts=(at_least(f"≥ {required}x naive", ratio, required),) if naive else (),
        )


def _latencies(table: Table, results: ReceiverResults) -> None:
    for offered, runs in results.latency.get("confirmhub", {}).items():
        ours = results.latency_at("confirmhub", offered)
        naive = results.latency_at("naive", offered)
        assert ours is not None
        comparison = _NONE
        if naive and math.isfinite(ours.p99 + naive.p99):
            comparison = f"p99 {ours.p99 / naive.p99:.1f}x naive"
        table.add(
            "2",
            f"Receiver latency at {offered:,} req/s offered, p50 / p99 / p99.9 (ms"
            f"{_runs(len(runs))})",
            _latency(ours),
            _latency(naive),
            _latency(results.latency_at("no-op", offered)),
            _NONE,
            comparison,
            verdicts=(at_most(f"p99 ≤ {LATENCY_P99_MS:g} ms", ours.p99, LATENCY_P99_MS, "ms"),)
            if offered == LATENCY_RATE
            else (),
        )


def _e2e(table: Table, e2e: EndToEnd) -> None:
    late = f" ({e2e.late:,} later than {e2e.wait:g} s)" if e2e.late else ""
    table.add(
        "3",
        f"End-to-end POST → event at {e2e.rate:,} req/s offered, p50 / p99 (ms"
        f"{_runs(len(e2e.steps))})",
        f"{ms(e2e.p50)} / {ms(e2e.p99)}{late}",
        *(_NONE,) * 3,
        f"HTTP p99 {ms(e2e.http_p99)} ms",
        verdicts=(
            at_most(
                f"p99 ≤ {E2E_P99_MS:g} ms",
                e2e.p99,
                E2E_P99_MS,
                "ms",
                infinite=f"over 1% of events later than {e2e.wait:g} s",
            ),
        ),
    )


def _knee(table: Table, knee: Knee) -> None:
    limit = f"{knee.search.limit_ms:g} ms"
    if knee.knee is None:
        found = f"under {rate(knee.failing or knee.search.coarse)}"
    elif knee.failing is None:
        found = f"≥ {rate(knee.knee)} (the highest rate tried)"
    else:
        found = f"{rate(knee.knee)} (p99 over {limit} at {rate(knee.failing)})"
    table.add(
        "3",
        f"End-to-end knee: highest offered rate with p99 ≤ {limit}, confirmed by a repeat "
        f"(req/s, {knee.search.seconds:g} s steps)",
        found,
        *(_NONE,) * 3,
        f"{len(knee.steps)} steps",
        verdicts=(
            at_least(f"≥ {rate(KNEE_RATE)} req/s", float(knee.knee or 0), KNEE_RATE, "req/s"),
        ),
    )


def _workers(table: Table, workers: WorkerRates) -> None:
    shapes: tuple[tuple[Shape, str], ...] = (
        ("single", "single-CDR messages"),
        ("grouped", f"grouped messages ({workers.group} CDRs each)"),
    )
    for shape, described in shapes:
        ours = workers.median_rate(shape, "confirmhub")
        relay = workers.median_rate(shape, "relay")
        naive = workers.median_rate(shape, "naive worker")
        raw = workers.raw_rate if shape == "single" else None
        required = WORKER_VS_RELAY[shape]
        table.add(
            "4",
            f"Worker drain, {workers.cdrs:,} CDRs in {described}, PostgreSQL (events/s"
            f"{_runs(workers.runs)})",
            rate(ours),
            rate(naive),
            f"{rate(relay)} relay",
            rate(raw) if raw else _NONE,
            f"{ours / relay:.2f}x relay · {ours / naive:.1f}x naive"
            + (f" · {ours / raw:.2f}x raw" if raw else ""),
            verdicts=(
                at_least(f"≥ {required}x relay", ours / relay, required),
                at_least(f"≥ {WORKER_VS_NAIVE:g}x naive", ours / naive, WORKER_VS_NAIVE),
            ),
        )


def _memory(table: Table, results: Results) -> None:
    soak = results.soak
    if soak is not None:
        table.add(
            "5",
            f"Receiver RSS after {soak.requests_at_count:,} requests (MiB)",
            f"{soak.rss_at_count:.1f}",
            *(_NONE,) * 4,
            verdicts=(
                at_most(f"≤ {RSS_LIMIT_MIB:g} MiB", soak.rss_at_count, RSS_LIMIT_MIB, "MiB"),
            ),
        )
        growth = soak.growth_last_half
        table.add(
            "5",
            f"Receiver RSS growth over the last half of a {soak.seconds:.0f} s soak (MiB)",
            f"{growth:+.2f} ({soak.slope_last_half:+.2f} MiB/min)",
            *(_NONE,) * 4,
            verdicts=(
                Verdict(
                    f"no growth (≤ {RSS_GROWTH_TOLERANCE_MIB:g} MiB)",
                    growth <= RSS_GROWTH_TOLERANCE_MIB,
                    f"{growth:+.2f} MiB",
                ),
            ),
        )
    peaks = {} if results.receivers is None else dict(results.receivers.memory)
    ours = [m.peak_mib for m in (peaks.get("confirmhub"), soak and soak.memory) if m]
    if ours:
        naive, noop = peaks.get("naive"), peaks.get("no-op")
        table.add(
            "5",
            "Receiver peak RSS, VmHWM (MiB)",
            f"{max(ours):.1f}",
            f"{naive.peak_mib:.1f}" if naive else _NONE,
            f"{noop.peak_mib:.1f} no-op" if noop else _NONE,
            *(_NONE,) * 2,
        )
    worker_peaks = [m.peak_mib for m in _worker_memories(results)]
    if worker_peaks:
        table.add("5", "Worker peak RSS, VmHWM (MiB)", f"{max(worker_peaks):.1f}", *(_NONE,) * 4)


def _worker_memories(results: Results) -> list[Memory]:
    drains = []
    if results.workers is not None:
        drains += [d for shape in results.workers.drains.values() for d in shape["confirmhub"]]
    if results.table is not None:
        drains += [*results.table.empty, *results.table.full]
    memories = [drain.memory for drain in drains if drain.memory is not None]
    if results.e2e is not None:
        memories.append(results.e2e.worker_memory)
    return memories


def _table_size(table: Table, result: TableSizeResult) -> None:
    ratio = result.full_rate / result.empty_rate
    rounds = " · ".join(
        f"{kind} {', '.join(rate(d.rate) for d in drains)}"
        for kind, drains in (("empty", result.empty), ("full", result.full))
    )
    table.add(
        "6",
        f"Worker rate, {result.empty[0].cdrs:,} new calls per drain: empty table → "
        f"{result.rows:,} calls, drains in ABBA order (msg/s)",
        f"{rate(result.empty_rate)} → {rate(result.full_rate)} ({rounds})",
        *(_NONE,) * 3,
        f"{ratio:.2f}x",
        verdicts=(within(f"within {TABLE_TOLERANCE:.0%}", ratio, TABLE_TOLERANCE),),
    )


def build_table(results: Results, *, seconds: float) -> Table:
    """The table of every measurement that ran."""
    table = Table()
    if results.receivers is not None:
        _throughput(table, results.receivers, seconds)
        _latencies(table, results.receivers)
    if results.e2e is not None:
        _e2e(table, results.e2e)
    if results.knee is not None:
        _knee(table, results.knee)
    if results.workers is not None:
        _workers(table, results.workers)
    _memory(table, results)
    if results.table is not None:
        _table_size(table, results.table)
    return table

"""Every run behind the table's medians, and every step of the knee search, as markdown."""

from __future__ import annotations

from collections.abc import Sequence

from bench.e2e import EndToEnd, Step
from bench.knee import Knee
from bench.receiver import ReceiverResults
from bench.report import Results
from bench.verdicts import ms, rate
from bench.worker_rates import WorkerRates


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ]


def _step_cells(step: Step) -> list[str]:
    late = step.sent - step.arrived
    return [
        rate(step.rate),
        f"{step.sent:,}" + (f" ({late:,} late)" if late else ""),
        *(ms(value) for value in (step.p50, step.p90, step.p99, step.p999, step.http_p99)),
    ]


_STEP_HEADER = ("offered (req/s)", "sent", "p50", "p90", "p99", "p99.9", "HTTP p99")


def knee_steps(knee: Knee) -> list[str]:
    """The knee search, step by step."""
    rows = [
        [str(index), *_step_cells(step), "pass" if knee.passes(step) else "fail"]
        for index, step in enumerate(knee.steps, start=1)
    ]
    return [
        f"### Knee search: end-to-end latency (ms) by step, limit p99 ≤ "
        f"{knee.search.limit_ms:g} ms",
        "",
        f"Steps of {knee.search.seconds:g} s, up by {rate(knee.search.coarse)} req/s until "
        f"one fails, then bisection to {rate(knee.search.fine)} req/s, then the highest "
        "passing rate again: the knee is a rate that passed twice.",
        "",
        *_table(("step", *_STEP_HEADER, "p99 within limit"), rows),
    ]


def e2e_steps(e2e: EndToEnd) -> list[str]:
    """Measurement 3's runs."""
    rows = [[str(index), *_step_cells(step)] for index, step in enumerate(e2e.steps, start=1)]
    return [
        "### End to end at the target rate, run by run (ms)",
        "",
        *_table(("run", *_STEP_HEADER), rows),
    ]


def worker_runs(workers: WorkerRates) -> list[str]:
    """Measurement 4's drains, run by run (events/s)."""
    rows = []
    for shape, consumers in workers.drains.items():
        for consumer, drains in consumers.items():
            rows.append(
                [
                    shape,
                    consumer,
                    *(rate(drain.rate) for drain in drains),
                    rate(workers.median_rate(shape, consumer)),
                ]
            )
    rows.append(
        ["single", "raw consume", *(rate(d.rate) for d in workers.raw), rate(workers.raw_rate)]
    )
    runs = [f"run {index}" for index in range(1, workers.runs + 1)]
    return [
        "### Worker drains, run by run (events/s)",
        "",
        *_table(("shape", "consumer", *runs, "median"), rows),
    ]


def receiver_runs(receivers: ReceiverResults) -> list[str]:
    """Measurement 1's runs, and measurement 2's where it was repeated."""
    rows = [
        [server, payload, *(rate(run.rate) for run in runs)]
        for server, by_payload in receivers.throughput.items()
        for payload, runs in by_payload.items()
    ]
    lines = []
    if rows:
        runs = [f"run {index}" for index in range(1, max(len(row) - 2 for row in rows) + 1)]
        lines += [
            "### Receiver throughput, run by run (req/s)",
            "",
            *_table(("server", "payload", *runs), rows),
        ]
    latency_rows = [
        [server, rate(offered), *(f"{ms(run.p50)} / {ms(run.p99)}" for run in runs)]
        for server, by_rate in receivers.latency.items()
        for offered, runs in by_rate.items()
        if len(runs) > 1
    ]
    if latency_rows:
        runs = [f"run {index}" for index in range(1, max(len(r) - 2 for r in latency_rows) + 1)]
        lines += [
            "### Receiver latency where repeated, run by run: p50 / p99 (ms)",
            "",
            *_table(("server", "offered (req/s)", *runs), latency_rows),
        ]
    return lines


def details_markdown(results: Results) -> str:
    """Every run and step, for below the table."""
    lines: list[str] = []
    if results.knee is not None:
        lines += knee_steps(results.knee)
    if results.e2e is not None and len(results.e2e.steps) > 1:
        lines += e2e_steps(results.e2e)
    if results.workers is not None:
        lines += worker_runs(results.workers)
    if results.receivers is not None:
        lines += receiver_runs(results.receivers)
    return "\n".join(lines)

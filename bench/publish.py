"""Writing a run down: ``results.md`` with the machine and versions, and the plots."""

from __future__ import annotations

import datetime as dt
import math
import operator
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.details import details_markdown
from bench.e2e import Step
from bench.knee import Knee
from bench.receiver import ReceiverResults
from bench.report import Results, Table
from bench.verdicts import E2E_P99_MS, E2E_RATE, LATENCY_P99_MS, LATENCY_RATE

_COLORS = {"confirmhub": "tab:blue", "naive": "tab:orange", "no-op": "tab:gray"}
_PERCENTILES = (("p50", "p50", "-"), ("p99", "p99", "--"), ("p99.9", "p999", ":"))
_E2E_PERCENTILES = (
    ("p50", "p50", "tab:green"),
    ("p90", "p90", "tab:olive"),
    ("p99", "p99", "tab:blue"),
    ("p99.9", "p999", "tab:purple"),
)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What is known about a run besides its numbers."""

    command: str
    started: dt.datetime
    finished: dt.datetime
    machine: dict[str, str]
    versions: dict[str, str]
    load_before: str
    load_after: str
    settings: dict[str, str]
    restarted: tuple[str, ...] = ()

    def subtitle(self) -> str:
        """The machine and the date, for a plot."""
        return f"{self.machine['CPU']}, {self.machine['cores']} cores, {self.started:%Y-%m-%d}"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_latency(results: ReceiverResults, path: Path, *, subtitle: str) -> None:
    """Receiver latency percentiles (medians of runs) against offered load, log-log."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 6.5), dpi=120)
    rates = sorted({offered for sweep in results.latency.values() for offered in sweep})
    for name in results.latency:
        for label, attribute, style in _PERCENTILES:
            points = []
            for offered in rates:
                latency = results.latency_at(name, offered)
                if latency is not None and math.isfinite(getattr(latency, attribute)):
                    points.append((offered, getattr(latency, attribute)))
            if points:
                xs, ys = zip(*points, strict=True)
                axes.plot(
                    xs, ys, style, marker="o", color=_COLORS.get(name), label=f"{name} {label}"
                )
    axes.axhline(
        LATENCY_P99_MS,
        color="tab:red",
        linewidth=0.8,
        linestyle="-.",
        label=f"target: p99 ≤ {LATENCY_P99_MS:g} ms at {LATENCY_RATE:,} req/s",
    )
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xticks(rates, [f"{offered:,}" for offered in rates])
    axes.set_xlabel("offered load, open loop (requests/s)")
    axes.set_ylabel("latency from scheduled send (ms)")
    axes.set_title(f"Receiver latency vs offered load: MCN CDR webhooks\n{subtitle}", fontsize=10)
    axes.grid(visible=True, which="both", alpha=0.3)
    axes.legend(ncol=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _by_rate(steps: Sequence[Step], value: Callable[[Step], float]) -> list[tuple[int, float]]:
    rates = sorted({step.rate for step in steps})
    return [
        (offered, statistics.median(value(step) for step in steps if step.rate == offered))
        for offered in rates
    ]


def plot_end_to_end(knee: Knee, path: Path, *, subtitle: str) -> None:
    """End-to-end percentiles against offered load from the knee search: a line through
    each rate's median, a dot per step (repeats too), the limit and the knee."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 6.5), dpi=120)
    finite = [step for step in knee.steps if math.isfinite(step.p999)]
    for label, attribute, color in _E2E_PERCENTILES:
        points = _by_rate(finite, operator.attrgetter(attribute))
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, "-", color=color, label=f"{label} (median of steps)")
            axes.scatter(
                [step.rate for step in finite],
                [getattr(step, attribute) for step in finite],
                color=color,
                s=14,
                alpha=0.6,
            )
    axes.axhline(
        knee.search.limit_ms,
        color="tab:red",
        linewidth=0.8,
        linestyle="-.",
        label=f"knee limit: p99 ≤ {knee.search.limit_ms:g} ms",
    )
    axes.plot(
        [E2E_RATE],
        [E2E_P99_MS],
        marker="x",
        color="tab:red",
        linestyle="none",
        label=f"target: p99 ≤ {E2E_P99_MS:g} ms at {E2E_RATE:,} req/s",
    )
    if knee.knee is not None:
        axes.axvline(
            knee.knee, color="black", linewidth=0.8, linestyle=":", label=f"knee {knee.knee:,}"
        )
    unfinished = [step.rate for step in knee.steps if not math.isfinite(step.p999)]
    if unfinished:
        axes.plot([], [], " ", label=f"not plotted, events too late: {unfinished}")
    axes.set_yscale("log")
    axes.set_xlabel("offered load, open loop (requests/s)")
    axes.set_ylabel("POST to event on a bound queue (ms)")
    axes.set_title(
        f"End-to-end latency vs offered load: receiver + worker, PostgreSQL\n{subtitle}",
        fontsize=10,
    )
    axes.grid(visible=True, which="both", alpha=0.3)
    axes.legend(ncol=2, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _pairs(title: str, values: dict[str, str]) -> list[str]:
    return [f"| {title} | |", "|---|---|", *(f"| {k} | {v} |" for k, v in values.items()), ""]


def results_markdown(table: Table, record: RunRecord, results: Results, plots: list[str]) -> str:
    """The whole ``results.md``."""
    verdicts = [f"- **{v.cell().split(':')[0]}** {v.target}: {v.detail}" for v in table.verdicts]
    minutes = (record.finished - record.started).total_seconds() / 60
    captions = {
        "latency.png": "Receiver latency percentiles vs offered load",
        "e2e.png": "End-to-end latency percentiles vs offered load, and the knee",
    }
    lines = [
        "# confirmhub benchmarks",
        "",
        f"Measured {record.started:%Y-%m-%d %H:%M} UTC ({minutes:.0f} min) with "
        f"`{record.command}`; how each figure is measured: "
        "[bench/README.md](../../bench/README.md).",
        "",
        table.markdown(),
        "",
        "Targets:",
        "",
        *verdicts,
        "",
        *(line for plot in plots for line in (f"![{captions[plot]}]({plot})", "")),
        *(
            [
                f"**{' and '.join(record.restarted)} restarted during this run: suspect figures.**",
                "",
            ]
            if record.restarted
            else []
        ),
        f"Load average (1 / 5 / 15 min) before the run: {record.load_before}; after: "
        f"{record.load_after}. Load generators, RabbitMQ, PostgreSQL and the processes under "
        "test share the machine's cores; figures from a machine doing other work are lower.",
        "",
        *_pairs("machine", record.machine),
        *_pairs("version", record.versions),
        *_pairs("setting", record.settings),
        "## Every run",
        "",
        details_markdown(results),
    ]
    return "\n".join(lines)


def write_results(out: Path, table: Table, record: RunRecord, results: Results) -> list[Path]:
    """Write ``results.md`` and the plots of what was measured; the paths."""
    out.mkdir(parents=True, exist_ok=True)
    plots = []
    if results.receivers is not None and results.receivers.latency:
        plot_latency(results.receivers, out / "latency.png", subtitle=record.subtitle())
        plots.append("latency.png")
    if results.knee is not None:
        plot_end_to_end(results.knee, out / "e2e.png", subtitle=record.subtitle())
        plots.append("e2e.png")
    (out / "results.md").write_text(results_markdown(table, record, results, plots) + "\n")
    return [*(out / plot for plot in plots), out / "results.md"]

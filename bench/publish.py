"""Writing a run down: ``results.md`` with the machine and versions, and ``latency.png``."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

from bench.receiver import ReceiverResults
from bench.report import LATENCY_P99_MS, LATENCY_RATE, Table

_COLORS = {"confirmhub": "tab:blue", "naive": "tab:orange", "no-op": "tab:gray"}
_PERCENTILES = (("p50", "p50", "-"), ("p99", "p99", "--"), ("p99.9", "p999", ":"))


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


def plot_latency(results: ReceiverResults, path: Path, *, subtitle: str) -> None:
    """Latency percentiles against offered load, one colour per server (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 6.5), dpi=120)
    rates: set[int] = set()
    for name, sweep in results.latency.items():
        rates.update(sweep)
        for label, attribute, style in _PERCENTILES:
            points = [
                (offered, getattr(sweep[offered], attribute))
                for offered in sorted(sweep)
                if math.isfinite(getattr(sweep[offered], attribute))
            ]
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
    axes.set_xticks(sorted(rates), [f"{rate:,}" for rate in sorted(rates)])
    axes.set_xlabel("offered load, open loop (requests/s)")
    axes.set_ylabel("latency from scheduled send (ms)")
    axes.set_title(f"Receiver latency vs offered load: MCN CDR webhooks\n{subtitle}", fontsize=10)
    axes.grid(visible=True, which="both", alpha=0.3)
    axes.legend(ncol=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _pairs(title: str, values: dict[str, str]) -> list[str]:
    return [f"| {title} | |", "|---|---|", *(f"| {k} | {v} |" for k, v in values.items()), ""]


def results_markdown(table: Table, record: RunRecord, *, plotted: bool) -> str:
    """The whole ``results.md``."""
    verdicts = [f"- **{v.cell().split(':')[0]}** {v.target}: {v.detail}" for v in table.verdicts]
    minutes = (record.finished - record.started).total_seconds() / 60
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
        *(["![Receiver latency percentiles vs offered load](latency.png)", ""] if plotted else []),
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
    ]
    return "\n".join(lines)


def write_results(
    out: Path, table: Table, record: RunRecord, receivers: ReceiverResults | None
) -> list[Path]:
    """Write ``results.md`` (and ``latency.png`` when latency was measured); the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    plotted = receivers is not None and bool(receivers.latency)
    if receivers is not None and plotted:
        subtitle = (
            f"{record.machine['CPU']}, {record.machine['cores']} cores, {record.started:%Y-%m-%d}"
        )
        plot_latency(receivers, out / "latency.png", subtitle=subtitle)
        written.append(out / "latency.png")
    (out / "results.md").write_text(results_markdown(table, record, plotted=plotted) + "\n")
    written.append(out / "results.md")
    return written

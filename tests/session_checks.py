"""Checks over a whole test run: no secret in any log line, every operational metric moved.

They judge what every test process saw: under pytest-xdist each worker reports its log scan
and metric totals to the controller, which judges the union (tests/conftest.py's session
hooks); a failed check fails the run. The log check holds for any run; the others only for
a run of the whole suite (``--whole-suite``, as ``make test`` runs it), where every flow ran.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

# Counters and histograms the suite's flows must have moved, by exposed sample name.
MOVED = (
    "confirmhub_webhooks_received_total",
    "confirmhub_http_request_duration_seconds_count",
    "confirmhub_broker_confirm_duration_seconds_count",
    "confirmhub_events_published_total",
    "confirmhub_call_outcomes_total",
    "confirmhub_worker_messages_total",
    "confirmhub_worker_message_duration_seconds_count",
    "confirmhub_worker_redeliveries_total",
    "confirmhub_worker_dead_lettered_total",
    "confirmhub_sms_sends_total",
    "confirmhub_sms_receipts_total",
    "confirmhub_calls_refused_total",
)
# A gauge of work waiting: zero is its healthy value, so it must only be exposed.
EXPOSED = ("confirmhub_outbox_backlog",)


def observed(lines: int, leaks: list[str]) -> dict[str, Any]:
    """What this process saw: log lines scanned, those carrying a secret, metric samples."""
    totals: dict[str, float] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return {
        "lines": lines,
        "leaks": leaks[:20],
        "moved": sorted(name for name, value in totals.items() if value),
        "exposed": sorted(totals),
    }


def problems(reports: list[dict[str, Any]], *, whole_suite: bool) -> list[str]:
    """What the reports of every process of a run show wrong; empty when all is well."""
    found: list[str] = []
    leaks = [line for report in reports for line in report["leaks"]]
    if leaks:
        found.append(f"{len(leaks)} log line(s) carry a secret: {leaks[:5]}")
    if not whole_suite:
        return found
    if sum(report["lines"] for report in reports) == 0:
        found.append("nothing was logged: the secret scan saw no flows")
    moved = {name for report in reports for name in report["moved"]}
    exposed = {name for report in reports for name in report["exposed"]}
    if missing := [name for name in MOVED if name not in moved]:
        found.append(f"metrics no flow moved: {missing}")
    if hidden := [name for name in EXPOSED if name not in exposed]:
        found.append(f"metrics not exposed: {hidden}")
    return found

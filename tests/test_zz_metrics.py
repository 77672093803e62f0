"""After the suite's flows, a scrape of /metrics shows every operational metric (runs last)."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

# Counters and histograms the flows must have moved, by exposed sample name.
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


async def test_every_metric_has_samples(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/metrics")
    assert response.status == 200
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    assert {name: totals.get(name, 0.0) for name in MOVED if not totals.get(name)} == {}
    assert all(name in totals for name in EXPOSED)
    assert totals["confirmhub_webhooks_received_total"] > 0

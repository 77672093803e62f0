"""Prometheus metrics; one registry per process, scraped at ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

HTTP_REQUESTS = Counter(
    "confirmhub_http_requests",
    "HTTP requests answered, by route and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "confirmhub_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
WEBHOOKS_RECEIVED = Counter(
    "confirmhub_webhooks_received",
    "Webhook requests, by source and HTTP status.",
    ["source", "status"],
)
BROKER_CONFIRM_LATENCY = Histogram(
    "confirmhub_broker_confirm_duration_seconds",
    "Time from publish to the broker's confirm.",
    ["exchange"],
    buckets=_LATENCY_BUCKETS,
)
EVENTS_PUBLISHED = Counter(
    "confirmhub_events_published",
    "Downstream events confirmed by the broker, by type.",
    ["type"],
)
CALL_OUTCOMES = Counter(
    "confirmhub_call_outcomes",
    "Password-call outcomes recorded, by outcome.",
    ["outcome"],
)
MESSAGES_PROCESSED = Counter(
    "confirmhub_worker_messages",
    "Inbound messages handled by the worker, by queue and result.",
    ["queue", "result"],
)
MESSAGE_LATENCY = Histogram(
    "confirmhub_worker_message_duration_seconds",
    "Time the worker spent on one inbound message.",
    ["queue"],
    buckets=_LATENCY_BUCKETS,
)
REDELIVERIES = Counter(
    "confirmhub_worker_redeliveries",
    "Inbound messages received again after a failed attempt.",
    ["queue"],
)
DEAD_LETTERED = Counter(
    "confirmhub_worker_dead_lettered",
    "Inbound messages rejected to the dead-letter queue, by reason.",
    ["queue", "reason"],
)
SMS_SENDS = Counter(
    "confirmhub_sms_sends",
    "SMS fallback attempts, by provider and result (sent, retryable_error, permanent_error, "
    "unconfirmed, unusable).",
    ["provider", "result"],
)
SMS_RECEIPTS = Counter(
    "confirmhub_sms_receipts",
    "SMS delivery receipts, by provider type and result (delivered, undelivered, pending, "
    "repeat, or the refusal: receipt-not-authentic, unknown-receipt, invalid-payload…).",
    ["provider", "result"],
)
OUTBOX_BACKLOG = Gauge(
    "confirmhub_outbox_backlog",
    "Committed events still waiting for the broker's confirm, as of the last sweep.",
)
CALLS_REFUSED = Counter(
    "confirmhub_calls_refused",
    "Password calls and fallback SMS refused before anything was paid for, by reason (the "
    "problem type's last part: idempotency-key-in-use, live-call, call-limit-per-number…).",
    ["reason"],
)

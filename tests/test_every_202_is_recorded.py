"""Property: every webhook answered 202 ends recorded in the database with its event.

Hypothesis generates MCN CDRs and Bitrix24 ``ONAPPMETHODCONFIRM`` events with extras (nested,
unicode, long strings, numbers and numbers as strings), as JSON objects, JSON arrays of CDRs
and form bodies, and posts them one by one, or all at once beside a few plain CDRs so that the
receiver's group commit puts them in shared messages. The receiver answers each as its schema
decides (202; 422 for what the schema refuses; 413 past the body limit), and each 202 is then
found in the database with its event, no message split, dead-lettered or retried. Real
receiver, worker and RabbitMQ, on SQLite and on PostgreSQL (which enforces column lengths).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmhub.db.tables import method_confirmations, password_calls
from confirmhub.outcomes import classify_call_outcome
from schemas.inbound import INBOUND_EXCHANGE
from schemas.mcn import split_verification_call_uuid
from tests.helpers import EventTap, body_of, eventually
from tests.webhook_strategies import POSTS, Post, companion


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends."""
    return str(request.param)


async def recorded(engine: AsyncEngine, posts: list[Post]) -> dict[str, Any]:
    """The rows of every call and decision the accepted posts carry, by their key."""
    uuids = [cdr.verification_call_uuid for post in posts for cdr in post.cdrs]
    hashes = [d.token_sha256 for post in posts for d in post.decisions]
    rows: dict[str, Any] = {}
    async with engine.connect() as connection:
        if uuids:
            calls = password_calls.c
            for row in await connection.execute(
                password_calls.select().where(calls.verification_call_uuid.in_(uuids))
            ):
                rows[row.verification_call_uuid] = row
        if hashes:
            decided = method_confirmations.c
            for row in await connection.execute(
                method_confirmations.select().where(decided.token_sha256.in_(hashes))
            ):
                rows[row.token_sha256] = row
    return rows


def _total(name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    return sum(
        sample.value
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def _inbound_messages() -> float:
    """Messages the receiver has published to confirmhub.inbound."""
    return _total("confirmhub_broker_confirm_duration_seconds_count", exchange=INBOUND_EXCHANGE)


def _messages_not_acked() -> float:
    """Inbound messages the worker split, dead-lettered or scheduled for a retry."""
    return sum(
        _total("confirmhub_worker_messages_total", result=result)
        for result in ("split", "dead_lettered", "retry_scheduled", "requeued")
    )


GROUPING = {"requests": 0, "messages": 0}


@pytest.mark.usefixtures("worker")
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
    # No shrinking: a lost item fails only once its wait runs out, and fresh ids per example
    # leave little to shrink; the failing example's posts are printed instead (note()).
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(posts=POSTS, together=st.booleans())
async def test_every_accepted_webhook_is_recorded_with_its_event(
    client: TestClient,  # type: ignore[type-arg]
    engine: AsyncEngine,
    events: EventTap,
    posts: list[Post],
    together: bool,
) -> None:
    published_before, not_acked_before = _inbound_messages(), _messages_not_acked()
    if together:  # all at once, with companions: group commit shares messages among them
        posts = [*posts, *(companion() for _ in range(4))]
        responses = await asyncio.gather(
            *(client.post(post.path, data=post.body, headers=post.headers) for post in posts)
        )
    else:  # one by one: each alone in its message
        responses = [
            await client.post(post.path, data=post.body, headers=post.headers) for post in posts
        ]
    for post, response in zip(posts, responses, strict=True):
        note(f"{post.path} {post.expected_status} {response.status} {post.body[:300]!r}")
        assert response.status == post.expected_status, await response.text()
    accepted = [post for post in posts if post.expected_status == 202]

    expected = {cdr.verification_call_uuid: cdr for post in accepted for cdr in post.cdrs}
    decisions = {d.token_sha256: d for post in accepted for d in post.decisions}

    async def all_recorded() -> bool:
        return len(await recorded(engine, accepted)) == len(expected) + len(decisions)

    await eventually(all_recorded, timeout=10, interval=0.05)
    rows = await recorded(engine, accepted)
    for uuid, cdr in expected.items():
        outcome = classify_call_outcome(cdr.q931_status, cdr.final_status).value
        call_id, account_id = split_verification_call_uuid(uuid)
        row = rows[uuid]
        assert (row.call_id, row.account_id, row.outcome) == (call_id, account_id, outcome)
        assert (row.q931_status, row.final_status) == (cdr.q931_status, cdr.final_status)
    for token_sha256, decision in decisions.items():
        row = rows[token_sha256]
        status = "confirmed" if decision.confirmed else "denied"
        assert (row.member_id, row.method, row.status) == (
            decision.member_id,
            decision.method,
            status,
        )
        assert (row.domain, row.language_id, row.source_ts) == (
            decision.domain,
            decision.language_id,
            decision.source_ts,
        )

    out = [body_of(event) for event in await events.collect(len(rows), timeout=10)]
    keys = {
        event["data"].get("verification_call_uuid") or event["data"]["token_sha256"]: event
        for event in out
    }
    assert set(keys) == set(rows)
    for uuid, cdr in expected.items():
        assert keys[uuid]["type"] == f"password_call.{rows[uuid].outcome}"
        assert keys[uuid]["data"]["final_status"] == cdr.final_status
    for token_sha256 in decisions:
        assert keys[token_sha256]["type"] == f"method_confirmation.{rows[token_sha256].status}"

    # Each accepted request went in one message, alone or with others, and the worker took
    # every message whole: none split, dead-lettered or retried.
    published = _inbound_messages() - published_before
    assert published <= len(accepted) if together else published == len(accepted)
    assert _messages_not_acked() == not_acked_before
    if together:
        GROUPING["requests"] += len(accepted)
        GROUPING["messages"] += int(published)


def test_the_property_saw_requests_grouped() -> None:
    """The run above posted requests together; group commit must have shared messages."""
    if not GROUPING["requests"]:
        pytest.skip("the property test did not run in this session")
    assert GROUPING["messages"] < GROUPING["requests"], GROUPING

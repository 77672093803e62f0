"""Probes: alive, ready, and not ready when the schema is behind the code."""

from __future__ import annotations

import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from yarl import URL

from confirmhub.db.engine import create_engine
from confirmhub.settings import Settings


async def test_alive_and_ready(client: TestClient, amqp_url: str) -> None:  # type: ignore[type-arg]
    alive = await client.get("/healthz")
    assert (alive.status, await alive.json()) == (200, {"status": "ok"})
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {
        "status": "ready",
        "checks": {"broker": "ok", "database": "ok"},
        # The node it publishes to, by host and port only: no credentials.
        "broker_node": f"{URL(amqp_url).host}:{URL(amqp_url).port}",
    }


async def test_schema_behind_the_code_is_not_ready(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    finally:
        await engine.dispose()
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["checks"]["broker"] == "ok"
    assert "confirmhub migrate" in body["checks"]["database"]

"""Test resources on the real services: a private RabbitMQ vhost and PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import asyncpg

AMQP_BASE = os.environ.get("CONFIRMHUB_TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")
POSTGRES_ADMIN_URL = os.environ.get(
    "CONFIRMHUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


ResultT = TypeVar("ResultT")


def off_loop(function: Callable[..., ResultT], *args: Any) -> ResultT:
    """Run a blocking function that may start its own event loop, in a fresh thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


def _rabbitmqctl(*args: str) -> None:
    executable = shutil.which("rabbitmqctl")
    if executable is None:
        raise RuntimeError("rabbitmqctl not found: the tests need a local RabbitMQ")
    subprocess.run([executable, *args], check=True, capture_output=True, timeout=60)


def create_vhost() -> str:
    """Create a fresh vhost for this test session; returns its name."""
    name = f"confirmhub-test-{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return name


def delete_vhost(name: str) -> None:
    """Remove a vhost made by ``create_vhost``."""
    _rabbitmqctl("delete_vhost", name)


def create_database() -> tuple[str, str]:
    """Create a fresh PostgreSQL database; returns (name, SQLAlchemy URL)."""
    name = f"confirmhub_test_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return name, f"{base}/{name}"


def drop_database(name: str) -> None:
    """Drop a database made by ``create_database``."""

    async def drop() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())

"""Faults injected inside the database: a trigger that makes chosen writes fail.

The failure reaches the code under test the way a real one would (a driver error raised by
the statement, the transaction rolled back), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'injected fault';
END
$$
"""


async def _execute(engine: AsyncEngine, statements: Sequence[str]) -> None:
    async with engine.begin() as connection:
        for statement in statements:
            await connection.exec_driver_sql(statement)


@asynccontextmanager
async def failing_writes(
    engine: AsyncEngine, *, table: str, operation: Literal["INSERT", "UPDATE"], when: str
) -> AsyncIterator[None]:
    """For the block, every ``operation`` on ``table`` whose new row satisfies ``when`` (an
    SQL condition over ``NEW``) fails with "injected fault"; other writes go through."""
    name = f"injected_fault_{uuid.uuid4().hex[:8]}"
    head = f"CREATE TRIGGER {name} BEFORE {operation} ON {table} FOR EACH ROW WHEN ({when})"
    if engine.dialect.name == "postgresql":
        create = [_PG_FUNCTION, f"{head} EXECUTE FUNCTION injected_fault()"]
        drop = f"DROP TRIGGER IF EXISTS {name} ON {table}"
    else:
        create = [f"{head} BEGIN SELECT RAISE(ABORT, 'injected fault'); END"]
        drop = f"DROP TRIGGER IF EXISTS {name}"
    await _execute(engine, create)
    try:
        yield
    finally:
        await _execute(engine, [drop])

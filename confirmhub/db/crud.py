"""Rows keyed by an integer ``id``: insert, read, replace, delete and paged lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

RecordT = TypeVar("RecordT")


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A page of a list: exact-match filters by column name, ordered by creation time."""

    limit: int
    offset: int
    descending: bool = False
    filters: Mapping[str, str | bool] | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[RecordT]):
    """One page of records and how many match the filters in all."""

    items: list[RecordT]
    total: int


async def insert_row(
    connection: AsyncConnection, table: sa.Table, columns: dict[str, Any], now: dt.datetime
) -> sa.Row[Any]:
    """Insert a row stamped with ``now`` as both times; the stored row."""
    statement = table.insert().values(**columns, create_time=now, update_time=now)
    return (await connection.execute(statement.returning(*table.c))).one()


async def select_row(
    connection: AsyncConnection, table: sa.Table, row_id: int, *, for_update: bool
) -> sa.Row[Any] | None:
    """The row with ``row_id``, or None; ``for_update`` locks it."""
    statement = table.select().where(table.c.id == row_id)
    # Locks the row on PostgreSQL so two PATCHes merge one after the other; SQLite
    # transactions already hold the database's write lock from BEGIN IMMEDIATE.
    if for_update:
        statement = statement.with_for_update()
    return (await connection.execute(statement)).first()


async def update_row(
    connection: AsyncConnection,
    table: sa.Table,
    row_id: int,
    columns: dict[str, Any],
    now: dt.datetime,
) -> sa.Row[Any] | None:
    """Set ``columns`` on the row and stamp ``update_time``; None if it is gone."""
    statement = table.update().where(table.c.id == row_id).values(**columns, update_time=now)
    return (await connection.execute(statement.returning(*table.c))).first()


async def delete_row(connection: AsyncConnection, table: sa.Table, row_id: int) -> bool:
    """Delete the row; True if it existed."""
    result = await connection.execute(table.delete().where(table.c.id == row_id))
    return bool(result.rowcount)


async def page_rows(
    connection: AsyncConnection, table: sa.Table, query: ListQuery
) -> tuple[Sequence[sa.Row[Any]], int]:
    """One page of rows matching exact-match filters, and the total matching."""
    conditions = [table.c[column] == value for column, value in (query.filters or {}).items()]
    total = await connection.scalar(
        sa.select(sa.func.count()).select_from(table).where(*conditions)
    )
    # Creation times can tie; the id breaks ties in the same direction so pages never overlap.
    order = [table.c.create_time, table.c.id]
    statement = (
        table.select()
        .where(*conditions)
        .order_by(*(column.desc() if query.descending else column.asc() for column in order))
        .limit(query.limit)
        .offset(query.offset)
    )
    rows = (await connection.execute(statement)).all()
    return rows, int(total or 0)

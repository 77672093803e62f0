"""PostgreSQL statements of the worker's batches, built once: one array per column.

asyncpg prepares every distinct statement text. An ``IN`` list or a multi-row ``VALUES``
is a new text for each batch size, prepared again (a round trip, and a plan) whenever the
connection's statement cache has lost it; with arrays (``= ANY``, ``unnest``) the text is
the same whatever the batch's size, prepared once per connection.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from confirmhub.db.tables import UtcDateTime, outbox, password_calls

_calls = password_calls.c


def _array(name: str, item_type: Any) -> Any:
    # Typed, so that asyncpg's dialect casts it: unnest() and ANY() cannot infer the type.
    return sa.bindparam(name, type_=postgresql.ARRAY(item_type))


SELECT_CALLS_FOR_UPDATE = (
    password_calls.select()
    .where(_calls.verification_call_uuid == sa.any_(_array("keys", sa.String)))
    # Key order, so that the batches of two workers cannot deadlock.
    .order_by(_calls.verification_call_uuid)
    .with_for_update()
)

_new_calls = (
    sa.func.unnest(
        _array("uuids", sa.String),
        _array("call_ids", sa.String),
        _array("account_ids", sa.String),
        _array("outcomes", sa.String),
        _array("q931_statuses", sa.Integer),
        _array("final_statuses", sa.String),
    )
    .table_valued(
        sa.column("verification_call_uuid", sa.String),
        sa.column("call_id", sa.String),
        sa.column("account_id", sa.String),
        sa.column("outcome", sa.String),
        sa.column("q931_status", sa.Integer),
        sa.column("final_status", sa.String),
    )
    .render_derived("new_calls")
)
_now = sa.bindparam("now", type_=UtcDateTime())

INSERT_COMPLETED_CALLS = (
    postgresql.insert(password_calls)
    .from_select(
        [*_new_calls.c.keys(), "completed_at", "created_at", "updated_at"],
        sa.select(*_new_calls.c, _now, _now, _now),
    )
    .on_conflict_do_nothing(index_elements=["verification_call_uuid"])
    .returning(*password_calls.c)
)

_new_events = (
    sa.func.unnest(
        _array("event_ids", sa.String),
        _array("routing_keys", sa.String),
        _array("bodies", sa.LargeBinary),
        _array("correlation_ids", sa.String),
        _array("created_ats", sa.DateTime(timezone=True)),
    )
    .table_valued(
        sa.column("event_id", sa.String),
        sa.column("routing_key", sa.String),
        sa.column("body", sa.LargeBinary),
        sa.column("correlation_id", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    .render_derived("new_events")
)

INSERT_OUTBOX_EVENTS = (
    postgresql.insert(outbox)
    .from_select(list(_new_events.c.keys()), sa.select(*_new_events.c))
    .on_conflict_do_nothing(index_elements=["event_id"])
)

MARK_PUBLISHED = (
    outbox.update()
    .where(
        outbox.c.event_id == sa.any_(_array("event_ids", sa.String)),
        outbox.c.published_at.is_(None),
    )
    .values(published_at=sa.bindparam("now", type_=UtcDateTime()))
)

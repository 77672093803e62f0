"""Re-encrypting every stored secret with the first secrets key (``confirmhub secrets rotate``).

Stored secrets are the providers' secret options and the codes kept for the SMS fallback.
Rows are taken in key order, a batch at a time, each batch in its own short transaction, so
the service keeps serving meanwhile. A value already under the first key is left alone,
which makes a second run after an interruption resume where the first stopped. Each write
is conditional on the value read: one the service changed in between (a provider edited, a
call placed again) is not overwritten; the service wrote it with its own first key, and a
later run re-encrypts it if that key was an old one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from confirmhub.crypto import SecretsBox, SecretsKeyMissing
from confirmhub.db.store import Store
from confirmhub.db.tables import confirmation_providers, password_calls

_BATCH = 500


@dataclass(slots=True)
class RotationReport:
    """What a run did, per kind of secret: re-encrypted, already current, undecryptable."""

    rotated: dict[str, int] = field(default_factory=dict)
    current: dict[str, int] = field(default_factory=dict)
    undecryptable: dict[str, int] = field(default_factory=dict)
    changed_meanwhile: int = 0


# (name shown to the user, table, key column, encrypted column)
_SECRETS: tuple[tuple[str, sa.Table, str, str], ...] = (
    ("provider secrets", confirmation_providers, "id", "secrets_encrypted"),
    ("verification codes", password_calls, "verification_call_uuid", "code_encrypted"),
)


async def rotate_secrets(store: Store, box: SecretsBox) -> RotationReport:
    """Re-encrypt every stored secret that is not under the first key yet."""
    report = RotationReport()
    for name, table, key_name, value_name in _SECRETS:
        for counter in (report.rotated, report.current, report.undecryptable):
            counter[name] = 0
        key, value = table.c[key_name], table.c[value_name]
        last: Any = None
        while True:
            query = sa.select(key, value).where(value.is_not(None)).order_by(key).limit(_BATCH)
            if last is not None:
                query = query.where(key > last)
            async with store.reading() as connection:
                rows = (await connection.execute(query)).all()
            if not rows:
                break
            last = rows[-1][0]
            updates = []
            for row_key, stored in rows:
                if box.is_current(stored):
                    report.current[name] += 1
                    continue
                try:
                    updates.append({"b_key": row_key, "b_old": stored, "b_new": box.rotate(stored)})
                except SecretsKeyMissing:
                    report.undecryptable[name] += 1
            if updates:
                swapped = await _swap(store, table, key, value, updates)
                report.rotated[name] += swapped
                report.changed_meanwhile += len(updates) - swapped
    return report


async def _swap(
    store: Store,
    table: sa.Table,
    key: sa.Column[Any],
    value: sa.Column[Any],
    updates: list[dict[str, Any]],
) -> int:
    """Write each new value where the old one is still stored; how many were written."""
    statement = (
        table.update()
        .where(key == sa.bindparam("b_key"), value == sa.bindparam("b_old"))
        .values({value.name: sa.bindparam("b_new")})
    )
    written = 0
    async with store.transaction() as tx:
        # One statement per row: an executemany's rowcount is not reliable on every driver.
        for update in updates:
            result = await tx.connection.execute(statement, update)
            written += result.rowcount
    return written

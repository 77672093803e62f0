"""Measurement 6: the worker's rate with an empty ``password_calls`` and with a full one."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from bench import amqp
from bench.drain import Drain, asyncpg_url, sql, timed_drain
from bench.lab import Lab, confirmhub_env, say


@dataclass(frozen=True, slots=True)
class TableSizeResult:
    """Drains with an empty table and with a full one, in ABBA order."""

    empty: tuple[Drain, ...]
    full: tuple[Drain, ...]
    rows: int

    @staticmethod
    def _rate(drains: tuple[Drain, ...]) -> float:
        return sum(d.cdrs for d in drains) / sum(d.seconds for d in drains)

    @property
    def empty_rate(self) -> float:
        """CDRs per second over every empty-table drain."""
        return self._rate(self.empty)

    @property
    def full_rate(self) -> float:
        """CDRs per second over every full-table drain."""
        return self._rate(self.full)


_HISTORY = """
    INSERT INTO password_calls (
        verification_call_uuid, call_id, account_id, phone_number, code_hash,
        initiated_at, outcome, q931_status, final_status, completed_at,
        created_at, updated_at, check_attempts, verification_status
    )
    SELECT
        substr(md5(g::text), 1, 12) || '_' || lpad(to_hex(g), 8, '0'),
        substr(md5(g::text), 1, 12),
        lpad(to_hex(g), 8, '0'),
        '7999' || lpad((g % 10000000)::text, 7, '0'),
        'scrypt$16384$8$1$' || md5(g::text || 'salt') || md5(g::text || 'hash'),
        t, (ARRAY['answered','busy','no_answer','rejected'])[1 + g % 4],
        16 + g % 2, 'ANSWER', t + interval '20 seconds',
        t, t + interval '20 seconds', 0, 'pending'
    FROM generate_series(1, $1::int) AS g,
         LATERAL (SELECT now() - (g || ' seconds')::interval AS t) AS times
"""


async def load_history(database_url: str, rows: int) -> int:
    """Fill ``password_calls`` with ``rows`` completed calls (random-looking keys); the count."""
    connection = await asyncpg.connect(asyncpg_url(database_url))
    try:
        await connection.execute(_HISTORY, rows)
        await connection.execute("VACUUM ANALYZE password_calls")
        count: int = await connection.fetchval("SELECT count(*) FROM password_calls")
        return count
    finally:
        await connection.close()


async def empty_tables(database_url: str) -> None:
    """Remove every call and outbox row, as on a fresh database."""
    await sql(
        database_url,
        "TRUNCATE password_calls, outbox",
        "VACUUM ANALYZE password_calls",
        "VACUUM ANALYZE outbox",
    )


async def measure_table_size(
    lab: Lab, *, amqp_url: str, count: int, history_rows: int
) -> TableSizeResult:
    """Drains on an empty table and on one holding ``history_rows`` calls, in the order
    empty, full, full, empty, so that a drift of the machine over the four falls on both
    alike."""
    await amqp.declare_confirmhub_topology(amqp_url)
    empty_url = await lab.database("empty")
    full_url = await lab.database("full")
    for url in (empty_url, full_url):
        lab.migrate(confirmhub_env(database_url=url))
    say(f"loading {history_rows:,} calls into password_calls")
    rows = await load_history(full_url, history_rows)
    drains: dict[str, list[Drain]] = {"empty": [], "full": []}
    async with amqp.EventTap(amqp_url, "bench.events.table", consume=False) as tap:
        for round_number, kind in enumerate(("empty", "full", "full", "empty"), start=1):
            url = empty_url if kind == "empty" else full_url
            if kind == "empty":
                await empty_tables(url)
            drains[kind].append(
                await timed_drain(
                    lab,
                    "confirmhub",
                    amqp_url=amqp_url,
                    database_url=url,
                    tap=tap,
                    cdrs=count,
                    name=f"w-{kind}-{round_number}",
                )
            )
    return TableSizeResult(empty=tuple(drains["empty"]), full=tuple(drains["full"]), rows=rows)

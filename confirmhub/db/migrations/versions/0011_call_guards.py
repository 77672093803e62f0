"""Idempotency keys, rate limit buckets, the live call per number, the SMS round counted.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from confirmhub.db.tables import UtcDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE = sa.text("outcome IS NULL")


def upgrade() -> None:
    """Create ``idempotency_keys`` and ``rate_buckets``; index calls awaiting their CDR; mark
    the SMS round counted against the limit."""
    op.create_table(
        "idempotency_keys",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("content_type", sa.String(128)),
        sa.Column("location", sa.String(512)),
        sa.Column("body", sa.LargeBinary),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "idempotency_key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    op.create_table(
        "rate_buckets",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("tat_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("kind", "subject", name="pk_rate_buckets"),
    )
    op.create_index("ix_rate_buckets_tat_ms", "rate_buckets", ["tat_ms"])
    with op.batch_alter_table("password_calls") as batch:
        batch.add_column(
            sa.Column("sms_counted_round", sa.Integer, nullable=False, server_default="0")
        )
    op.create_index(
        "ix_password_calls_live_number",
        "password_calls",
        ["phone_number"],
        postgresql_where=_LIVE,
        sqlite_where=_LIVE,
    )


def downgrade() -> None:
    """Drop what ``upgrade`` created."""
    op.drop_index("ix_password_calls_live_number", table_name="password_calls")
    with op.batch_alter_table("password_calls") as batch:
        batch.drop_column("sms_counted_round")
    op.drop_table("rate_buckets")
    op.drop_table("idempotency_keys")

"""SMS delivery receipts on attempts; the send round of a call's SMS (a failover is round 2).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from confirmhub.db.tables import UtcDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the delivery columns to ``sms_attempts`` and the send round to both tables."""
    with op.batch_alter_table("sms_attempts") as batch:
        batch.add_column(sa.Column("send_round", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("delivery", sa.String(16)))
        batch.add_column(sa.Column("delivery_status", sa.String(32)))
        batch.add_column(sa.Column("delivery_error_code", sa.String(32)))
        batch.add_column(sa.Column("delivery_updated_at", UtcDateTime()))
    with op.batch_alter_table("password_calls") as batch:
        batch.add_column(sa.Column("sms_round", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    """Drop what ``upgrade`` added."""
    with op.batch_alter_table("password_calls") as batch:
        batch.drop_column("sms_round")
    with op.batch_alter_table("sms_attempts") as batch:
        for column in (
            "delivery_updated_at",
            "delivery_error_code",
            "delivery_status",
            "delivery",
            "send_round",
        ):
            batch.drop_column(column)

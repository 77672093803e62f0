"""Outbox claims: a sweep leases the events it publishes instead of locking their rows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from confirmhub.db.tables import UtcDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``outbox.claimed_until``."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_until", UtcDateTime()))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_until")

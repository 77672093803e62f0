"""Bitrix24 portals and method confirmations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from confirmhub.db.tables import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``bitrix24_portals`` and ``method_confirmations``."""
    op.create_table(
        "bitrix24_portals",
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("domain", sa.String(255)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name="pk_bitrix24_portals"),
    )
    op.create_table(
        "method_confirmations",
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("method", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("domain", sa.String(255)),
        sa.Column("language_id", sa.String(16)),
        sa.Column("source_ts", sa.BigInteger),
        sa.Column("decided_at", UtcDateTime()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "member_id", "token_sha256", "method", name="pk_method_confirmations"
        ),
    )


def downgrade() -> None:
    """Drop what ``upgrade`` created."""
    op.drop_table("method_confirmations")
    op.drop_table("bitrix24_portals")

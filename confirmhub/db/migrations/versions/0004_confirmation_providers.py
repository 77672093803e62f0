"""B2Core-style confirmation providers and templates.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from confirmhub.db.tables import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``confirmation_providers`` and ``confirmation_templates``."""
    op.create_table(
        "confirmation_providers",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("caption", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("is_enabled", sa.Boolean, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("options_json", sa.Text, nullable=False),
        sa.Column("secrets_encrypted", sa.LargeBinary),
        sa.Column("resources_json", sa.Text, nullable=False),
        sa.Column("create_time", UtcDateTime(), nullable=False),
        sa.Column("update_time", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_confirmation_providers"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "confirmation_templates",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("caption", sa.String(255), nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("is_enabled", sa.Boolean, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("resources_json", sa.Text, nullable=False),
        sa.Column("create_time", UtcDateTime(), nullable=False),
        sa.Column("update_time", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_confirmation_templates"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    """Drop what ``upgrade`` created."""
    op.drop_table("confirmation_templates")
    op.drop_table("confirmation_providers")

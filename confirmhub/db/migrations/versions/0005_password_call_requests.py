"""Requests to place password calls, recorded before MCN is called.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from confirmhub.db.tables import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HOLDING = sa.text("state IN ('placing', 'in_doubt')")


def upgrade() -> None:
    """Create ``password_call_requests``: one number held per unresolved request."""
    op.create_table(
        "password_call_requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("phone_number", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("verification_call_uuid", sa.String(128)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_password_call_requests"),
    )
    op.create_index(
        "uq_password_call_requests_held_number",
        "password_call_requests",
        ["phone_number"],
        unique=True,
        postgresql_where=_HOLDING,
        sqlite_where=_HOLDING,
    )
    op.create_index(
        "uq_password_call_requests_idempotency_key",
        "password_call_requests",
        ["key_id", "idempotency_key"],
        unique=True,
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("password_call_requests")

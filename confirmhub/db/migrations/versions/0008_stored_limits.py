"""Columns as wide as the values the schemas accept: a call's account id and the SMS provider.

An account id is the part of a verification_call_uuid after its last underscore, and the
uuid may be 128 characters; a provider's name may be 128 characters too. Both columns held
64, so PostgreSQL refused values the receiver had accepted.

The lengths are written out, not read from ``schemas.limits``: a migration records what it
did once. A later change of a limit needs a migration of its own, and
tests/test_stored_limits.py fails until it has one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (column, nullable, old length, new length)
_WIDENED = (("account_id", False, 64, 128), ("sms_provider", True, 64, 128))


def upgrade() -> None:
    """Widen both columns (on PostgreSQL a catalog change; SQLite copies the table)."""
    with op.batch_alter_table("password_calls") as batch:
        for name, nullable, old, new in _WIDENED:
            batch.alter_column(
                name, existing_type=sa.String(old), type_=sa.String(new), existing_nullable=nullable
            )


def downgrade() -> None:
    """Narrow them again; fails on PostgreSQL if a longer value is stored meanwhile."""
    with op.batch_alter_table("password_calls") as batch:
        for name, nullable, old, new in _WIDENED:
            batch.alter_column(
                name, existing_type=sa.String(new), type_=sa.String(old), existing_nullable=nullable
            )

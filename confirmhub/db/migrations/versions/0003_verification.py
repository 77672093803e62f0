"""Code checks and SMS fallback on password calls.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from confirmhub.db.tables import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any], dict[str, Any]], ...] = (
    ("code_encrypted", sa.LargeBinary(), {}),
    ("code_expires_at", UtcDateTime(), {}),
    ("locale", sa.String(16), {}),
    ("check_attempts", sa.Integer(), {"nullable": False, "server_default": "0"}),
    ("verification_status", sa.String(32), {"nullable": False, "server_default": "pending"}),
    ("approved_at", UtcDateTime(), {}),
    ("sms_status", sa.String(16), {}),
    ("sms_provider", sa.String(64), {}),
    ("sms_message_id", sa.String(128), {}),
    ("sms_error", sa.String(500), {}),
    ("sms_updated_at", UtcDateTime(), {}),
)


def upgrade() -> None:
    """Add the verification and SMS columns."""
    with op.batch_alter_table("password_calls") as batch:
        for name, column_type, options in _COLUMNS:
            batch.add_column(sa.Column(name, column_type, **options))
    # Only the few calls with an SMS in flight are indexed; the sweep reads just those.
    op.create_index(
        "ix_password_calls_sms_due",
        "password_calls",
        ["sms_updated_at"],
        postgresql_where=sa.text("sms_status IN ('queued', 'sending')"),
        sqlite_where=sa.text("sms_status IN ('queued', 'sending')"),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_password_calls_sms_due", table_name="password_calls")
    with op.batch_alter_table("password_calls") as batch:
        for name, _, _ in reversed(_COLUMNS):
            batch.drop_column(name)

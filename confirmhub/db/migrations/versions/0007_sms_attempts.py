"""SMS attempts recorded before each provider request; a fencing counter on the SMS claim.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from confirmhub.db.tables import UtcDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``sms_attempts`` and add ``password_calls.sms_claim``."""
    op.create_table(
        "sms_attempts",
        sa.Column("attempt_id", sa.String(36), nullable=False),
        sa.Column("verification_call_uuid", sa.String(128), nullable=False),
        sa.Column("attempt_no", sa.Integer, nullable=False),
        sa.Column("claim", sa.Integer, nullable=False),
        sa.Column("provider_id", sa.Integer, nullable=False),
        sa.Column("provider_name", sa.String(128), nullable=False),
        sa.Column("provider_type", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("provider_message_id", sa.String(128)),
        sa.Column("error", sa.String(500)),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("attempt_id", name="pk_sms_attempts"),
        sa.UniqueConstraint(
            "verification_call_uuid",
            "attempt_no",
            name="uq_sms_attempts_verification_call_uuid",
        ),
    )
    op.create_index(
        "ix_sms_attempts_provider_message",
        "sms_attempts",
        ["provider_id", "provider_message_id"],
    )
    with op.batch_alter_table("password_calls") as batch:
        batch.add_column(sa.Column("sms_claim", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    """Drop what ``upgrade`` added."""
    with op.batch_alter_table("password_calls") as batch:
        batch.drop_column("sms_claim")
    op.drop_index("ix_sms_attempts_provider_message", table_name="sms_attempts")
    op.drop_table("sms_attempts")

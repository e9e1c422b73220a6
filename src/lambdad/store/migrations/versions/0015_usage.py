"""Usage for cost: one row per invocation, one per sample of provisioned concurrency.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invocation_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("ended_at", sa.Float, nullable=False),
        sa.Column("billed_ms", sa.Integer, nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
        sa.Column("architecture", sa.String(16), nullable=False),
        sa.Column("provisioned", sa.Boolean, nullable=False),
    )
    op.create_index("ix_invocation_records_day", "invocation_records", ["day"])
    op.create_index("ix_invocation_records_ended_at", "invocation_records", ["ended_at"])
    op.create_table(
        "provisioned_samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("qualifier", sa.String(128), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("ended_at", sa.Float, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
        sa.Column("architecture", sa.String(16), nullable=False),
    )
    op.create_index("ix_provisioned_samples_day", "provisioned_samples", ["day"])
    op.create_index("ix_provisioned_samples_ended_at", "provisioned_samples", ["ended_at"])


def downgrade() -> None:
    op.drop_table("provisioned_samples")
    op.drop_table("invocation_records")

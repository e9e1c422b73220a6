"""Concurrency settings: provisioned concurrency configs and recursion configs.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _function_name() -> sa.Column[str]:
    return sa.Column(
        "function_name",
        sa.String(64),
        sa.ForeignKey("functions.name", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "provisioned_concurrency",
        _function_name(),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("requested", sa.Integer, nullable=False),
        sa.Column("last_modified", sa.Float, nullable=False),
    )
    op.create_table(
        "recursion_configs",
        _function_name(),
        sa.Column("recursive_loop", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recursion_configs")
    op.drop_table("provisioned_concurrency")

"""EventBridge Scheduler: schedule groups and schedules, per region.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_groups",
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("creation_date", sa.Float, nullable=False),
        sa.Column("last_modification_date", sa.Float, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
    )
    op.create_table(
        "schedules",
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("group_name", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("creation_date", sa.Float, nullable=False),
        sa.Column("last_modification_date", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schedules")
    op.drop_table("schedule_groups")

"""Durable timers (events/ticker.py) and their claimed ticks not yet delivered.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("owner_kind", sa.String(32), primary_key=True),
        sa.Column("owner_id", sa.String(512), primary_key=True),
        sa.Column("expression", sa.String(256), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("anchor", sa.Float, nullable=False),
        sa.Column("end_at", sa.Float, nullable=True),
        sa.Column("window_s", sa.Integer, nullable=False),
        sa.Column("grace_s", sa.Float, nullable=False),
        sa.Column("retry_attempts", sa.Integer, nullable=False),
        sa.Column("next_tick_at", sa.Float, nullable=True),
        sa.Column("next_fire_at", sa.Float, nullable=True),
        sa.Column("revision", sa.String(36), nullable=False),
    )
    op.create_index("ix_timers_next_fire_at", "timers", ["next_fire_at"])
    op.create_table(
        "timer_fires",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner_kind", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(512), nullable=False),
        sa.Column("tick_at", sa.Float, nullable=False),
        sa.Column("last", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
    )
    op.create_index("ix_timer_fires_lease_until", "timer_fires", ["lease_until"])


def downgrade() -> None:
    op.drop_table("timer_fires")
    op.drop_table("timers")

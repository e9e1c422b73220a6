"""Traces: recent X-Ray segment documents of traced invocations (bounded).

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trace_segments",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(16), nullable=False, unique=True),
        sa.Column("trace_id", sa.String(35), nullable=False, index=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("start_time", sa.Float, nullable=False),
        sa.Column("end_time", sa.Float, nullable=False),
        sa.Column("error", sa.Boolean, nullable=False),
        sa.Column("fault", sa.Boolean, nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
    )
    op.create_index("ix_trace_segments_start", "trace_segments", ["region", "start_time"])


def downgrade() -> None:
    op.drop_table("trace_segments")

"""Metrics: per-minute aggregates of the AWS/Lambda series (CloudWatch's API reads them).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_points",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("metric_name", sa.String(255), nullable=False),
        sa.Column("dimensions", sa.String(2048), nullable=False),
        sa.Column("minute", sa.Integer, nullable=False),
        sa.Column("sample_count", sa.Float, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("minimum", sa.Float, nullable=False),
        sa.Column("maximum", sa.Float, nullable=False),
        sa.Column("buckets", sa.JSON, nullable=False),
    )
    op.create_index(
        "ix_metric_points_series",
        "metric_points",
        ["region", "metric_name", "dimensions", "minute"],
    )
    op.create_index("ix_metric_points_minute", "metric_points", ["minute"])


def downgrade() -> None:
    op.drop_table("metric_points")

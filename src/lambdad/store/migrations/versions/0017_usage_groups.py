"""Usage for cost: a row of `invocation_records` counts `invocations` (the invocations of
one function version and price class that ended within one write of the recorder, their
billed durations summed), instead of one row per invocation.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every row so far is one invocation.
    op.add_column(
        "invocation_records",
        sa.Column("invocations", sa.Integer, nullable=False, server_default="1"),
    )


def downgrade() -> None:
    with op.batch_alter_table("invocation_records") as batch:
        batch.drop_column("invocations")

"""Usage: whether a group of invocations' environments were restored for them from a
SnapStart snapshot (AWS charges each restore per GB of the function's memory).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "invocation_records",
        sa.Column("restored", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("invocation_records") as batch:
        batch.drop_column("restored")

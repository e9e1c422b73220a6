"""Users and their access keys (authentication).

An access key's secret is stored sealed with the server key, which lives in a
file beside the data and never in the database.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "iam_users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False, unique=True),
        sa.Column("policies", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "iam_access_keys",
        sa.Column("access_key_id", sa.String(32), primary_key=True),
        sa.Column(
            "user_name",
            sa.String(64),
            sa.ForeignKey("iam_users.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_iam_access_keys_user_name", "iam_access_keys", ["user_name"])


def downgrade() -> None:
    op.drop_index("ix_iam_access_keys_user_name", "iam_access_keys")
    op.drop_table("iam_access_keys")
    op.drop_table("iam_users")

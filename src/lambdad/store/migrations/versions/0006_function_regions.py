"""Regions: a function lives in the region it was created in.

The region of a request is its SigV4 credential scope's; a function is seen
only from its own region. Rows older than this revision have no region, which
the server claims for its default region (`--region`) when it starts
(`FunctionStore.claim_unplaced`). Names stay unique on a server.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("functions", sa.Column("region", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("region")

"""seen records keep the ETag of the file served (what a preview diffs against)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("seen") as batch:
        batch.add_column(sa.Column("etag", sa.String(length=32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("seen") as batch:
        batch.drop_column("etag")

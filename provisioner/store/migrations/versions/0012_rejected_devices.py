"""rejected devices: a pending device an admin rejected stays recorded as such

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pending_devices", sa.Column("rejected_at", sa.Integer(), nullable=True))
    op.add_column(
        "pending_devices",
        sa.Column("rejected_by", sa.String(length=128), server_default="", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("pending_devices") as batch:
        batch.drop_column("rejected_by")
        batch.drop_column("rejected_at")

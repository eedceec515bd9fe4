"""bans shared by every node; addresses phones were admitted from

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bans",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("until", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_bans")),
    )
    op.create_index(op.f("ix_bans_until"), "bans", ["until"], unique=False)
    op.create_table(
        "phone_addresses",
        sa.Column("mac", sa.String(length=12), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("protocol", sa.String(length=8), nullable=False),
        sa.Column("admitted_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("mac", name=op.f("pk_phone_addresses")),
    )


def downgrade() -> None:
    op.drop_table("phone_addresses")
    op.drop_index(op.f("ix_bans_until"), table_name="bans")
    op.drop_table("bans")

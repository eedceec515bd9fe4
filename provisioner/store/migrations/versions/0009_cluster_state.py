"""cluster state: digest nonce counts, phone uploads, NOTIFY pacing, a tenant's queue index

Revision ID: 0009
Revises: 0008_api
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_nonce_counts",
        sa.Column("nonce", sa.String(length=96), nullable=False),
        sa.Column("nc", sa.BigInteger(), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", "nc", name=op.f("pk_digest_nonce_counts")),
    )
    op.create_index(
        op.f("ix_digest_nonce_counts_expires"), "digest_nonce_counts", ["expires"], unique=False
    )
    op.create_table(
        "phone_uploads",
        sa.Column("mac", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("mac", "name", name=op.f("pk_phone_uploads")),
    )
    op.create_index(
        "ix_notify_targets_tenant_queue",
        "notify_targets",
        ["tenant_id", "state", "id"],
        unique=False,
    )
    op.create_table(
        "notify_pacing",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_notify_pacing")),
    )


def downgrade() -> None:
    op.drop_table("notify_pacing")
    op.drop_index("ix_notify_targets_tenant_queue", table_name="notify_targets")
    op.drop_table("phone_uploads")
    op.drop_index(op.f("ix_digest_nonce_counts_expires"), table_name="digest_nonce_counts")
    op.drop_table("digest_nonce_counts")

"""notify jobs

Revision ID: 0003
Revises: 0002

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("selector", sa.String(length=255), nullable=False),
        sa.Column("event", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("not_before", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_jobs")),
    )
    op.create_table(
        "notify_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=12), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.Column("done_at", sa.Float(), nullable=True),
        sa.Column("confirm_until", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["notify_jobs.id"],
            name=op.f("fk_notify_targets_job_id_notify_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_targets")),
    )
    with op.batch_alter_table("notify_targets", schema=None) as batch_op:
        batch_op.create_index("ix_notify_targets_due", ["state", "next_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notify_targets_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notify_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notify_targets_job_id"))
        batch_op.drop_index("ix_notify_targets_due")

    op.drop_table("notify_targets")
    op.drop_table("notify_jobs")

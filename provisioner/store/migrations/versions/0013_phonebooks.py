"""phonebooks: tenant phonebooks and their entries

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phonebooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_phonebooks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phonebooks")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_phonebooks_tenant_id")),
    )
    op.create_table(
        "phonebook_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phonebook_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=64), nullable=False),
        sa.Column("last_name", sa.String(length=64), nullable=False),
        sa.Column("organisation", sa.String(length=128), nullable=False),
        sa.Column("numbers", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["phonebook_id"],
            ["phonebooks.id"],
            name=op.f("fk_phonebook_entries_phonebook_id_phonebooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phonebook_entries")),
        sa.UniqueConstraint(
            "phonebook_id", "position", name=op.f("uq_phonebook_entries_phonebook_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("phonebook_entries")
    op.drop_table("phonebooks")

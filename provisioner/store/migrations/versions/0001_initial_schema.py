"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 09:14:15.573595
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In creation order: each table after the ones its foreign keys name.
    _tenants_and_groups()
    _phones_and_scope_settings()
    _lines_and_memberships()


def _tenants_and_groups() -> None:
    op.create_table(
        "server_keys",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_keys")),
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sip_domain", sa.String(length=253), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "phone_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_phone_groups_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_groups")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_phone_groups_tenant_id")),
    )


def _phones_and_scope_settings() -> None:
    op.create_table(
        "phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=12), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.CheckConstraint("length(mac) = 12", name=op.f("ck_phones_mac_length")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_phones_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phones")),
        sa.UniqueConstraint("mac", name=op.f("uq_phones_mac")),
    )
    with op.batch_alter_table("phones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phones_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "tenant_settings",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_settings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "name", name=op.f("pk_tenant_settings")),
    )
    op.create_table(
        "group_settings",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["phone_groups.id"],
            name=op.f("fk_group_settings_group_id_phone_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "name", name=op.f("pk_group_settings")),
    )


def _lines_and_memberships() -> None:
    op.create_table(
        "lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(length=128), nullable=False),
        sa.Column("auth_user", sa.String(length=128), nullable=False),
        sa.Column("password", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.CheckConstraint("position >= 1", name=op.f("ck_lines_position_positive")),
        sa.ForeignKeyConstraint(
            ["phone_id"], ["phones.id"], name=op.f("fk_lines_phone_id_phones"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lines")),
        sa.UniqueConstraint("phone_id", "position", name=op.f("uq_lines_phone_id")),
    )
    op.create_table(
        "phone_group_members",
        sa.Column("phone_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["phone_groups.id"],
            name=op.f("fk_phone_group_members_group_id_phone_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["phone_id"],
            ["phones.id"],
            name=op.f("fk_phone_group_members_phone_id_phones"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("phone_id", "group_id", name=op.f("pk_phone_group_members")),
    )
    op.create_table(
        "phone_settings",
        sa.Column("phone_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["phone_id"],
            ["phones.id"],
            name=op.f("fk_phone_settings_phone_id_phones"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("phone_id", "name", name=op.f("pk_phone_settings")),
    )
    op.create_table(
        "line_settings",
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["lines.id"],
            name=op.f("fk_line_settings_line_id_lines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("line_id", "name", name=op.f("pk_line_settings")),
    )


def downgrade() -> None:
    op.drop_table("line_settings")
    op.drop_table("phone_settings")
    op.drop_table("phone_group_members")
    op.drop_table("lines")
    op.drop_table("group_settings")
    op.drop_table("tenant_settings")
    with op.batch_alter_table("phones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phones_tenant_id"))

    op.drop_table("phones")
    op.drop_table("phone_groups")
    op.drop_table("tenants")
    op.drop_table("server_keys")

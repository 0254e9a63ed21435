"""Notices shown to a user at sign-in (breach notifications).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 17:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dismissed_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_user_notice_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_notice")),
    )
    with op.batch_alter_table("user_notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_notice_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("user_notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_notice_user_id"))
    op.drop_table("user_notice")

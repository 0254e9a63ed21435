"""Inactive accounts: last activity, warning and freeze times on the account; sealed copies of deleted ones.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-03 08:00:00.000000

"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_active_at", app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("inactivity_warned_at", app.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("frozen_at", app.db.UTCDateTime(timezone=True), nullable=True))
    # Activity was not tracked before: the clock starts at the upgrade, so no existing account is
    # warned or frozen for a silence nobody measured.
    account = sa.table("account", sa.column("last_active_at", app.db.UTCDateTime(timezone=True)))
    op.get_bind().execute(account.update().values(last_active_at=datetime.now(UTC)))
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.alter_column(
            "last_active_at", existing_type=app.db.UTCDateTime(timezone=True), nullable=False
        )
    op.create_table(
        "account_copy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("deleted_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_copy")),
        sa.UniqueConstraint("account_id", name=op.f("uq_account_copy_account_id")),
    )
    with op.batch_alter_table("account_copy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_copy_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account_copy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_copy_expires_at"))
    op.drop_table("account_copy")
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("frozen_at")
        batch_op.drop_column("inactivity_warned_at")
        batch_op.drop_column("last_active_at")

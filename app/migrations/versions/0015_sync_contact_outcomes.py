"""What each run did per contact: the last action on a mapping row, removal records, contact progress.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 08:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_ACTIONS = ("created", "recreated", "adopted", "updated", "readded", "failed")


def upgrade() -> None:
    with op.batch_alter_table("synced_contact", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "last_action",
                sa.Enum(*_ACTIONS, name="contactaction", native_enum=False, length=20),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("last_run_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_reason", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        # Runs before this revision counted batches only; their contact progress reads 0 of 0.
        batch_op.add_column(sa.Column("contacts_done", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("contacts_total", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "sync_removal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sync_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("crm_id", sa.String(length=128), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("deleted", "released", name="removalkind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["sync_run.id"], name=op.f("fk_sync_removal_run_id_sync_run"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sync_id"],
            ["contact_sync.id"],
            name=op.f("fk_sync_removal_sync_id_contact_sync"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_removal")),
    )
    with op.batch_alter_table("sync_removal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_removal_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sync_removal_sync_id"), ["sync_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_removal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_removal_sync_id"))
        batch_op.drop_index(batch_op.f("ix_sync_removal_run_id"))
    op.drop_table("sync_removal")
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.drop_column("contacts_total")
        batch_op.drop_column("contacts_done")
    with op.batch_alter_table("synced_contact", schema=None) as batch_op:
        batch_op.drop_column("last_reason")
        batch_op.drop_column("last_run_id")
        batch_op.drop_column("last_action")

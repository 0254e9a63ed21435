"""A contact deleted on the admin page may be restored until ``undo_until``; an imported CSV upload
keeps its report (``imported_at``, ``report``) instead of its content, so the report page reloads.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 16:40:00

"""

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing deletions have no undo window (NULL): they are final, as they were.
    with op.batch_alter_table("crm_contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("undo_until", app.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("crm_csv_upload", schema=None) as batch_op:
        batch_op.add_column(sa.Column("imported_at", app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("report", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crm_csv_upload", schema=None) as batch_op:
        batch_op.drop_column("report")
        batch_op.drop_column("imported_at")
    with op.batch_alter_table("crm_contact", schema=None) as batch_op:
        batch_op.drop_column("undo_until")

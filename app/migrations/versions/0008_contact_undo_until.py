"""A contact deleted on the admin page may be restored until ``undo_until``.

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


def downgrade() -> None:
    with op.batch_alter_table("crm_contact", schema=None) as batch_op:
        batch_op.drop_column("undo_until")

"""Users keep their interface language and time zone; a disclosure acceptance names the language read.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 16:20:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Both nullable: no choice means Accept-Language and the browser's time zone decide.
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
    # Every acceptance before this revision was of the English text, the only one there was.
    with op.batch_alter_table("disclosure_acceptance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=False, server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("disclosure_acceptance", schema=None) as batch_op:
        batch_op.drop_column("language")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
        batch_op.drop_column("language")

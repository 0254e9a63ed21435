"""List names are unique per account among live lists, ignoring case.

Existing duplicates are renamed first: the oldest list keeps its name, each later one gets
" (2)", " (3)", ... (the first suffix no live list of the account has), cut to 200 characters.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-02 16:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None

_MAX_NAME = 200


def _rename_duplicates() -> None:
    bind = op.get_bind()
    lists = sa.table(
        "crm_list",
        sa.column("id", sa.Integer),
        sa.column("account_id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("deleted_at", sa.DateTime),
    )
    rows = bind.execute(
        sa.select(lists.c.id, lists.c.account_id, lists.c.name)
        .where(lists.c.deleted_at.is_(None))
        .order_by(lists.c.account_id, lists.c.id)
    ).all()
    # Python's lower() and casefold() fold at least what either database's lower() folds,
    # so the names left are unique under the index on both.
    taken: dict[int, set[str]] = {}
    for _, account_id, name in rows:
        taken.setdefault(account_id, set())
    seen: dict[int, set[str]] = {}
    for _, account_id, name in rows:
        taken[account_id].add(name.casefold())
    for row_id, account_id, name in rows:
        mine = seen.setdefault(account_id, set())
        if name.casefold() not in mine:
            mine.add(name.casefold())
            continue
        number = 2
        while True:
            suffix = f" ({number})"
            candidate = name[: _MAX_NAME - len(suffix)] + suffix
            if candidate.casefold() not in taken[account_id]:
                break
            number += 1
        taken[account_id].add(candidate.casefold())
        mine.add(candidate.casefold())
        bind.execute(sa.update(lists).where(lists.c.id == row_id).values(name=candidate))


def upgrade() -> None:
    _rename_duplicates()
    live = sa.text("deleted_at IS NULL")
    op.create_index(
        "uq_crm_list_live_name",
        "crm_list",
        ["account_id", sa.text("lower(name)")],
        unique=True,
        sqlite_where=live,
        postgresql_where=live,
    )


def downgrade() -> None:
    # Renamed duplicates keep their new names: which one was renamed is not recorded.
    op.drop_index("uq_crm_list_live_name", table_name="crm_list")

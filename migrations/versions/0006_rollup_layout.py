"""rollupstate.layout: which rollup rows exist, so an upgrade adds the missing ones

Layout 2 adds month rows to the agents' and categories' rollups: a year is 12 rows per agent instead of
52. Organisations rolled up before this revision are layout 1 (the server default); the refresher sees
that, computes their month rows from the day rows already there (no base table is read again), and sets
layout 2. Until then, readers use the base tables, as for any rollup not ready.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rollupstate", sa.Column("layout", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    # Month rows mean nothing to the code of layout 1, which never reads them; they go anyway.
    op.execute("DELETE FROM rollupagent WHERE span = 'm'")
    op.execute("DELETE FROM rollupcategory WHERE span = 'm'")
    op.drop_column("rollupstate", "layout")

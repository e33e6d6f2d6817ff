"""A supervisor can correct a call's category

- ``review.category``: the category the review kept (the scorer's, or the one the supervisor chose); null on
  reviews stored before this column, which never changed it. The evaluation's ``category`` column, read by
  the dashboards, then holds the kept one; the scorer's stays in the evaluation's result.

Plain ADD COLUMN on both databases; the downgrade drops it.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("review", sa.Column("category", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("review", "category")

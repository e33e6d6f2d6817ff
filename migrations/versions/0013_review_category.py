"""A supervisor can correct a call's category and its customer irritants

- ``review.category``: the category the review kept (the scorer's, or the one the supervisor chose); null on
  reviews stored before this column, which never changed it. The evaluation's ``category`` column, read by
  the dashboards, then holds the kept one; the scorer's stays in the evaluation's result, and in
  ``review.ai_category`` beside the kept one, so the calibration page counts agreements without reading results.
- ``review.irritants_json``: the irritant labels the review kept, as a JSON list; null when the review left
  them as they were. The evaluation's irritant rows, read by the dashboards, follow it.

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
    op.add_column("review", sa.Column("ai_category", sa.String(), nullable=True))
    op.add_column("review", sa.Column("irritants_json", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("review", "irritants_json")
    op.drop_column("review", "ai_category")
    op.drop_column("review", "category")
